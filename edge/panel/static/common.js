/* Shared helpers of the staff panel: API calls with the CSRF header, the live stream, the header bar. */
"use strict";
const Panel = {me: null, handlers: [], source: null, bannerUp: false, probe: null, reload: null};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function $(sel) { return document.querySelector(sel); }
function fill(node, ...children) { node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false)); }

async function api(method, path, body) {
  const opts = {method, headers: {}, credentials: "same-origin"};
  if (method !== "GET") {
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = Panel.me ? Panel.me.csrf : "";
    opts.body = JSON.stringify(body || {});
  }
  let res;
  try { res = await fetch(path, opts); } catch (e) {
    banner("无法连接员工面板，请检查网络；恢复后会自动刷新");
    throw new Error("无法连接员工面板（网络中断？）");
  }
  if (res.status === 401 && !path.startsWith("/api/login")) { location.href = "/login"; throw new Error("signed out"); }
  let data = null;
  if ((res.headers.get("content-type") || "").includes("json")) { try { data = await res.json(); } catch (e) { data = null; } }
  if (!res.ok) {
    const message = (data && data.error) || `服务器返回 HTTP ${res.status}（${res.statusText || "错误"}）`;
    if (data && data.code === "core_down") banner(message);
    throw new Error(message);
  }
  if (Panel.bannerUp) banner(null);
  return data;
}

/* A line across the top while the panel or the core cannot be reached; cleared, and the page reloaded, on recovery. */
function banner(text) {
  let box = $("#banner");
  if (!box) { box = el("div", {id: "banner", class: "banner", role: "alert"}); document.body.prepend(box); }
  box.textContent = text || "";
  box.hidden = !text;
  const wasUp = Panel.bannerUp;
  Panel.bannerUp = !!text;
  if (text && !Panel.probe) {
    Panel.probe = setInterval(async () => {
      try {
        const r = await fetch("/api/status", {credentials: "same-origin"});
        if (r.ok) { banner(null); }
      } catch (e) { /* still down */ }
    }, 3000);
  }
  if (!text && Panel.probe) { clearInterval(Panel.probe); Panel.probe = null; }
  if (!text && wasUp && Panel.reload) Panel.reload();
}

function toast(text, kind) {
  const box = $("#toasts") || document.body.appendChild(el("div", {id: "toasts"}));
  const t = el("div", {class: "toast " + (kind || "")}, text);
  box.prepend(t);
  setTimeout(() => t.remove(), kind === "error" ? 8000 : 4000);
}

async function act(label, fn) {
  try { const r = await fn(); return r; } catch (e) { toast(label + "失败：" + e.message, "error"); return null; }
}

function minutes(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return seconds < 60 ? "<1 分" : Math.round(seconds / 60) + " 分";
}
function sinceIso(iso) { return iso ? (Date.now() - Date.parse(iso)) / 1000 : null; }
function hhmm(iso) { if (!iso) return "—"; const d = new Date(iso); return d.toTimeString().slice(0, 5); }

const STATES = {open: "开放", closed: "关闭", paused: "暂停", issued: "等候", called: "已呼叫", serving: "办理中",
  done: "办结", no_show: "未到", transferred: "已转移", cancelled: "已取消"};
const ROLES = {staff: "窗口人员", manager: "值班经理", technician: "技术员"};
const RULES = {longest_wait: "最长等待", waiting_per_counter: "窗口人均等候", unattended: "窗口无人值守",
  device_offline: "设备离线", printer_paper: "打印机缺纸", negative_emotion: "负面情绪占比", low_rating: "低分评价",
  ahead_of_plan: "客流超计划", occupancy_disagreement: "人数来源不一致"};

function onLive(fn) { Panel.handlers.push(fn); }

function connectLive() {
  const dot = $("#live");
  const src = new EventSource("/api/stream");
  Panel.source = src;
  src.onopen = () => { dot.className = "live on"; dot.textContent = "● 实时"; };
  src.onerror = () => { dot.className = "live off"; dot.textContent = "● 重连中"; };
  src.addEventListener("expired", () => { location.href = "/login"; });
  src.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    for (const fn of Panel.handlers) fn(ev);
  };
}

function renderAlerts(target, alerts, onAck) {
  if (!alerts.length) { fill(target, el("p", {class: "muted"}, "无活动告警")); return; }
  fill(target, el("ul", {class: "alerts"}, alerts.map((a) => el("li", {class: "alert " + (a.acknowledged_at ? "acked" : "fresh"), "data-alert": a.id},
    el("span", {class: "rule"}, RULES[a.rule] || a.rule),
    el("span", {class: "msg"}, a.message),
    el("span", {class: "when"}, hhmm(a.raised_at)),
    a.acknowledged_at ? el("span", {class: "by"}, "已确认 " + a.acknowledged_by)
      : el("button", {class: "ack", onclick: () => onAck(a)}, "确认")))));
}

async function ackAlert(a) {
  const r = await act("确认告警", () => api("POST", `/api/alerts/${a.id}/ack`, {}));
  if (r) toast("已确认：" + a.message);
}

async function startPage(active) {
  Panel.me = await api("GET", "/api/me");
  const me = Panel.me;
  const links = [["counter", "叫号", ["staff", "manager"]], ["dashboard", "大厅总览", ["manager", "technician"]],
    ["ops", "运营", ["staff", "manager"]], ["admin", "管理", ["manager"]]];
  fill($("#nav"), links.filter((l) => l[2].includes(me.role)).map((l) =>
    el("a", {href: "/" + l[0], class: l[0] === active ? "on" : ""}, l[1])));
  fill($("#who"), el("span", {}, `${me.display}（${ROLES[me.role]}）`),
    el("button", {class: "link", id: "logout", onclick: async () => { await act("退出", () => api("POST", "/api/logout")); location.href = "/login"; }}, "退出"));
  const clock = $("#clock");
  const tick = () => { clock.textContent = new Date().toLocaleTimeString("zh-CN", {hour12: false}); };
  tick(); setInterval(tick, 1000);
  connectLive();
  return me;
}
