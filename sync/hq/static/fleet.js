"use strict";
// The fleet view: every hall by region, and one hall in detail. Data from /fleet/api; no outside code.
const LINKS = { up: "正常 up", late: "延迟 late", down: "中断 down", never: "从未 never" };
let me = null;
let timer = null;
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const kid of kids) e.append(kid === null || kid === undefined ? "—" : kid);
  return e;
}

function ago(iso) {
  if (!iso) return "—";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} 秒前`;
  if (s < 5400) return `${Math.round(s / 60)} 分钟前`;
  if (s < 172800) return `${Math.round(s / 3600)} 小时前`;
  return `${Math.round(s / 86400)} 天前`;
}

async function api(path, options) {
  const resp = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  const body = await resp.json().catch(() => ({ detail: resp.statusText }));
  if (resp.status === 401) { showSignin(); throw new Error(body.detail || "not signed in"); }
  if (!resp.ok) throw new Error(body.detail || resp.statusText);
  return body;
}

function showSignin() {
  me = null;
  clearInterval(timer);
  $("who").hidden = true; $("fleet").hidden = true; $("hall").hidden = true; $("signin").hidden = false;
}

function linkBadge(link) { return el("span", { class: `link ${link}`, "data-link": link }, LINKS[link] || link); }

function table(target, heads, rows) {
  const t = $(target);
  t.replaceChildren(el("tr", {}, ...heads.map((h) => el("th", {}, h))));
  if (!rows.length) t.append(el("tr", {}, el("td", { colSpan: heads.length, class: "muted" }, "无 none")));
  for (const r of rows) t.append(el("tr", {}, ...r.map((c) => el("td", {}, c))));
}

async function loadFleet() {
  const data = await api("/fleet/api/halls");
  const s = data.summary;
  $("summary").replaceChildren(
    el("div", { class: "card" }, el("b", {}, String(s.halls)), "营业厅 halls"),
    ...Object.entries(s.links).map(([link, n]) =>
      el("div", { class: "card", "data-count": link }, el("b", {}, String(n)), linkBadge(link))));
  const regionSel = $("region");
  const chosen = regionSel.value;
  regionSel.replaceChildren(el("option", { value: "" }, "全部 All"),
    ...Object.keys(s.regions).sort().map((r) => el("option", { value: r }, r || "(未分区 none)")));
  regionSel.value = chosen;
  const linkWanted = $("link").value;
  const byRegion = {};
  for (const h of data.halls) {
    if (chosen && h.region !== chosen) continue;
    if (linkWanted && h.link !== linkWanted) continue;
    (byRegion[h.region] = byRegion[h.region] || []).push(h);
  }
  const out = [];
  for (const region of Object.keys(byRegion).sort()) {
    const heads = ["营业厅 Hall", "链路 Link", "积压 Backlog", "最后确认 Last ack", "告警 Alerts",
                   "今日取号 Tickets", "平均等候 Wait", "评价 Rating"];
    const t = el("table", { class: "halls" }, el("tr", {}, ...heads.map((x) => el("th", {}, x))));
    for (const h of byRegion[region]) {
      const row = el("tr", { class: "hall-row", "data-hall": h.hall },
        el("td", {}, h.name ? `${h.name} (${h.hall})` : h.hall),
        el("td", {}, linkBadge(h.link)),
        el("td", { class: "num" }, String(h.backlog)),
        el("td", { title: h.last_ack || "" }, ago(h.last_ack)),
        el("td", { class: "num" + (h.alerts_open ? " alerts-open" : "") }, String(h.alerts_open)),
        el("td", { class: "num" }, String(h.tickets_today)),
        el("td", { class: "num" }, h.wait_avg_min === null ? "—" : `${h.wait_avg_min} 分钟`),
        el("td", { class: "num" }, h.rating_avg === null ? "—" : `${h.rating_avg} (${h.ratings_today})`));
      row.addEventListener("click", () => { location.hash = "hall=" + encodeURIComponent(h.hall); });
      t.append(row);
    }
    out.push(el("h2", { class: "region" }, region || "未分区 No region"), t);
  }
  $("regions").replaceChildren(...out);
  $("updated").textContent = "更新于 updated " + new Date().toLocaleTimeString();
}

async function loadHall(hall) {
  const h = await api("/fleet/api/halls/" + encodeURIComponent(hall));
  $("hall-title").textContent = h.name ? `${h.name} (${h.hall})` : h.hall;
  $("hall-facts").replaceChildren(
    el("div", { class: "card" }, linkBadge(h.link), el("span", { class: "muted" }, " " + (h.region || ""))),
    el("div", { class: "card" }, el("b", {}, String(h.backlog)), "积压 backlog"),
    el("div", { class: "card" }, el("b", {}, ago(h.last_ack)), "最后确认 last ack"),
    el("div", { class: "card" }, el("b", {}, String(h.tickets_today)), "今日取号 tickets"),
    el("div", { class: "card" }, el("b", {}, String(h.alerts_open)), "告警 alerts"));
  table("queues", ["业务 Business", "等候 Waiting", "办理中 Serving", "已办 Done"],
    h.queues.map((q) => [`${q.business} ${q.name}`, String(q.waiting), String(q.serving), String(q.done)]));
  table("devices", ["设备 Device", "状态 State", "说明 Detail", "时间 At"],
    h.devices.map((d) => [d.device, d.state, d.detail, ago(d.at)]));
  table("alerts", ["规则 Rule", "内容 Message", "发生 Raised"], h.alerts.map((a) => [a.rule, a.message, ago(a.raised_at)]));
  table("bundles", ["版本 Version", "结果 Result", "时间 At"],
    h.bundles.map((b) => [String(b.version), b.applied ? "已应用 applied" : "拒绝 refused: " + (b.error || ""), ago(b.at)]));
  const acts = me && (me.role === "operator" || me.role === "admin");
  table("repairs", ["单号 Reference", "类型 Kind", "电话 Phone", "地点 Place", "说明 Description", "状态 State",
                    acts ? "答复 Answer" : "备注 Note"],
    h.repairs.map((r) => [r.reference, r.kind, r.phone, r.place, r.description, STATES[r.state] || r.state,
                          acts ? answerForm(h.hall, r) : r.note]));
}

const STATES = { received: "已受理 received", dispatched: "已派单 dispatched", on_site: "已到场 on site",
                 fixed: "已修复 fixed", closed: "已办结 closed", cancelled: "已撤销 cancelled" };

function answerForm(hall, r) {
  const form = el("form", { class: "answer", "data-reference": r.reference });
  const state = el("select", { name: "state" },
    ...Object.entries(STATES).map(([value, label]) => el("option", { value, selected: value === r.state }, label)));
  const note = el("input", { name: "note", maxLength: 300, value: r.note || "", placeholder: "备注 note" });
  form.append(state, note, el("button", { type: "submit" }, "发送 Send"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api(`/fleet/api/halls/${encodeURIComponent(hall)}/repairs/${encodeURIComponent(r.reference)}`, {
        method: "POST", headers: { "content-type": "application/json", "x-csrf": me.csrf },
        body: JSON.stringify({ state: state.value, note: note.value }),
      });
      route();
    } catch (err) { $("error").textContent = err.message; }
  });
  return form;
}

async function route() {
  if (!me) return;
  $("error").textContent = "";
  const m = /^#hall=(.+)$/.exec(location.hash);
  try {
    if (m) {
      $("fleet").hidden = true; $("hall").hidden = false;
      await loadHall(decodeURIComponent(m[1]));
    } else {
      $("hall").hidden = true; $("fleet").hidden = false;
      await loadFleet();
    }
  } catch (err) { $("error").textContent = err.message; }
}

function signedIn(who) {
  me = who;
  $("signin").hidden = true; $("who").hidden = false;
  $("who-name").textContent = `${who.name} (${who.role})`;
  clearInterval(timer);
  timer = setInterval(route, 10000);
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = new FormData(ev.target);
    $("signin-error").textContent = "";
    try {
      const who = await fetch("/fleet/api/signin", {
        method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: form.get("name"), password: form.get("password") }),
      }).then(async (r) => { const b = await r.json(); if (!r.ok) throw new Error(b.detail); return b; });
      ev.target.reset();
      signedIn(who);
    } catch (err) { $("signin-error").textContent = err.message; }
  });
  $("signout").addEventListener("click", async () => {
    await fetch("/fleet/api/signout", { method: "POST", credentials: "same-origin", headers: { "x-csrf": me.csrf } });
    showSignin();
  });
  $("back").addEventListener("click", (ev) => { ev.preventDefault(); location.hash = ""; });
  $("region").addEventListener("change", route);
  $("link").addEventListener("change", route);
  window.addEventListener("hashchange", route);
  fetch("/fleet/api/me", { credentials: "same-origin" })
    .then(async (r) => (r.ok ? signedIn(await r.json()) : showSignin()))
    .catch(showSignin);
});
