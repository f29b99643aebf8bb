/* Counter caller: sign in to a counter, call / recall / serve / finish / no-show / transfer / pause, with shortcuts. */
"use strict";
const RULE_TEXT = {fifo: "先到先叫", priority: "优先号优先", fair_ratio: "优先与普通按比例轮换", max_wait: "等待超时优先",
  transfer: "转入本窗口", specific: "指定叫号"};
const PAUSE_REASONS = ["午休", "临时离开", "业务咨询", "系统故障", "交接班"];
const desk = {cid: localStorage.getItem("hall.counter"), counter: null, desk: null, ticket: null, status: null, busy: false};

function ruleText(rule) {
  const secondary = rule.endsWith("_secondary");
  const base = RULE_TEXT[rule.replace(/_secondary$/, "")] || rule;
  return secondary ? base + "（辅助业务）" : base;
}

function tagsOf(t) {
  const tags = [];
  if (t.priority === "vip" || (t.tags || []).includes("vip")) tags.push(["VIP", "vip"]);
  if (t.appointment || t.priority === "appointment") tags.push(["预约", "appt"]);
  if (t.priority === "green") tags.push(["绿色通道", "green"]);
  for (const x of t.tags || []) if (x !== "vip") tags.push([x, "plain"]);
  return tags;
}

function renderCard() {
  const card = $("#card");
  const t = desk.ticket;
  const c = desk.counter;
  if (!c) { fill(card, el("p", {class: "muted"}, "请选择窗口")); return; }
  if (!t) {
    const text = c.state === "paused" ? `暂停中：${c.pause_reason || ""}` : c.state === "closed" ? "窗口未开放" : allowed() ? "当前无客户，按 N 叫下一位" : "当前无客户";
    fill(card, el("div", {class: "empty"}, text));
    return;
  }
  const waited = t.called_at ? (Date.parse(t.called_at) - Date.parse(t.queued_at)) / 1000 : sinceIso(t.queued_at);
  const cust = t.customer ? `${t.customer.name_masked || ""} ${t.customer.masked}`.trim() : "未识别身份";
  const last = (t.calls || []).slice(-1)[0];
  fill(card,
    el("div", {class: "card-head"},
      el("div", {class: "number", id: "current-number"}, t.number),
      el("div", {class: "card-meta"},
        el("div", {class: "biz"}, t.business_name),
        el("div", {class: "state s-" + t.state}, STATES[t.state] || t.state),
        el("div", {class: "tags"}, tagsOf(t).map(([label, cls]) => el("span", {class: "tag " + cls}, label))))),
    el("dl", {class: "facts"},
      el("dt", {}, "等候时长"), el("dd", {}, minutes(waited)),
      el("dt", {}, "客户身份"), el("dd", {}, cust),
      el("dt", {}, "取号时间"), el("dd", {}, hhmm(t.issued_at)),
      el("dt", {}, "重呼次数"), el("dd", {}, String(t.recalls)),
      t.transferred_from ? [el("dt", {}, "转移"), el("dd", {}, (t.history || []).map((h) => h.business + (h.counter ? "@" + h.counter : "")).join(" → "))] : null),
    last ? el("div", {class: "why"},
      el("div", {class: "why-title"}, "为什么叫这个号：", el("b", {}, ruleText(last.rule))),
      el("div", {class: "muted"}, last.detail),
      last.passed.length ? el("div", {}, `越过 ${last.passed.length} 位更早取号者：`,
        last.passed.slice(0, 8).map((p) => el("span", {class: "passed"}, `${p.number}(${minutes(p.waited_s)})`))) : el("div", {class: "muted"}, "未越过任何人")) : null);
}

const ACTIONS = [
  ["call", "N", "叫下一位", (c, t) => c.state === "open" && !t],
  ["specific", "C", "指定叫号", (c, t) => c.state === "open" && !t],
  ["recall", "R", "重呼", (c, t) => t && t.state === "called"],
  ["serve", "S", "开始办理", (c, t) => t && t.state === "called"],
  ["finish", "F", "办结", (c, t) => !!t],
  ["noshow", "X", "未到", (c, t) => t && t.state === "called"],
  ["transfer", "T", "转移", (c, t) => !!t],
  ["pause", "P", "暂停", (c, t) => c.state === "open" && !t],
  ["resume", "U", "恢复", (c) => c.state === "paused"],
  ["close", "Q", "签退", (c, t) => c.state !== "closed" && !t],
];

function allowed() { return !desk.desk || desk.desk.can_act; }

function renderActions() {
  const c = desk.counter;
  if (!c) { fill($("#actions")); return; }
  const holder = desk.desk && desk.desk.holder;
  fill($("#actions"), ACTIONS.map(([name, key, label, ok]) =>
    el("button", {class: "act act-" + name, id: "act-" + name, disabled: !allowed() || !ok(c, desk.ticket), onclick: () => run(name)},
      label, el("kbd", {}, key))),
    allowed() ? null : el("p", {class: "not-mine", id: "not-mine"},
      holder ? `本窗口由 ${holder.display} 签入，只有本人或值班经理可以操作` : "本窗口不是您签入的，请值班经理处理"));
  fill($("#desk-title"), el("span", {}, c.name), el("span", {class: "badge s-" + c.state}, STATES[c.state]),
    c.staff ? el("span", {class: "muted"}, c.staff_display || c.staff) : null,
    el("button", {class: "link", onclick: () => { desk.cid = null; localStorage.removeItem("hall.counter"); load(); }}, "换窗口"));
}

async function post(action, body) {
  if (desk.busy) return null;
  desk.busy = true;
  const label = action === "open" ? "签入窗口" : (ACTIONS.find((a) => a[0] === action) || [0, 0, action])[2];
  try { return await act(label, () => api("POST", `/api/counters/${encodeURIComponent(desk.cid)}/${action}`, body || {})); }
  finally { desk.busy = false; }
}

async function run(name) {
  const c = desk.counter;
  const entry = ACTIONS.find((a) => a[0] === name);
  if (!c || !entry || !allowed() || !entry[3](c, desk.ticket)) return;
  let r = null;
  if (name === "specific") {
    const number = await ask("指定叫号", [["number", "号码（如 A012）", "text"]]);
    if (number) r = await post("call", {number: number.number.trim().toUpperCase()});
  } else if (name === "pause") {
    const v = await ask("暂停服务", [["reason", "原因", "select", PAUSE_REASONS]]);
    if (v) r = await post("pause", {reason: v.reason});
  } else if (name === "transfer") {
    const biz = desk.status.businesses.map((b) => [b.code, `${b.code} ${b.name}`]);
    const counters = [["", "（任意窗口）"]].concat(desk.status.counters.filter((x) => x.id !== desk.cid).map((x) => [x.id, x.name]));
    const v = await ask("转移到", [["business", "业务", "select", biz], ["to_counter", "窗口", "select", counters]]);
    if (v) r = await post("transfer", {business: v.business, to_counter: v.to_counter || null});
  } else if (name === "close" && !confirm("确定签退并关闭本窗口？")) {
    return;
  } else {
    r = await post(name === "call" ? "call" : name);
  }
  if (r && (name === "call" || name === "specific")) toast(`请 ${r.number} 号到 ${c.name}`);
  await reload();
}

function ask(title, fields) {
  return new Promise((resolve) => {
    const dlg = $("#dlg");
    const form = el("form", {method: "dialog"}, el("h3", {}, title),
      fields.map(([name, label, kind, options]) => el("label", {}, label,
        kind === "select" ? el("select", {name}, options.map((o) => Array.isArray(o) ? el("option", {value: o[0]}, o[1]) : el("option", {value: o}, o)))
          : el("input", {name, type: kind, required: true, autocomplete: "off"}))),
      el("div", {class: "dlg-buttons"}, el("button", {value: "cancel", type: "button", onclick: () => { dlg.close(); resolve(null); }}, "取消"),
        el("button", {value: "ok", class: "primary"}, "确定")));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const out = {};
      for (const [name] of fields) out[name] = form.elements[name].value;
      dlg.close();
      resolve(out);
    });
    fill(dlg, form);
    dlg.showModal();
    const first = form.querySelector("input,select");
    if (first) first.focus();
  });
}

function renderPicker() {
  fill($("#card"), el("div", {class: "picker"}, el("h3", {}, "签入窗口"),
    desk.status.counters.map((c) => el("button", {class: "pick", "data-counter": c.id, onclick: () => signIn(c)},
      el("b", {}, c.name), el("span", {class: "badge s-" + c.state}, STATES[c.state]), el("span", {class: "muted"}, c.staff_display || c.staff || "")))));
  fill($("#actions"));
  fill($("#desk-title"), "请选择您的窗口");
}

async function signIn(c) {
  desk.cid = c.id;
  if (c.state === "closed" && !(await post("open"))) { desk.cid = null; await reload(); return; }
  localStorage.setItem("hall.counter", c.id);
  await reload();
}

function renderQueues() {
  const s = desk.status;
  const mine = desk.counter ? new Set([...desk.counter.primary, ...desk.counter.secondary]) : new Set();
  fill($("#queues"), el("table", {class: "grid"},
    el("tr", {}, el("th", {}, "业务"), el("th", {}, "等候"), el("th", {}, "最长等待")),
    s.businesses.map((b) => el("tr", {class: mine.has(b.code) ? "mine" : ""},
      el("td", {}, `${b.code} ${b.name}`), el("td", {class: "num"}, String(b.waiting)), el("td", {class: "num"}, minutes(b.longest_wait_s))))));
}

function renderNotices(list) {
  fill($("#notices"), list.length ? list.slice(0, 8).map((n) => el("div", {class: "notice " + n.topic.replace(".", "-")},
    el("b", {}, n.topic === "vip.arrived" ? "VIP 到店" : "求助"),
    el("span", {}, noticeText(n)),
    el("span", {class: "when"}, hhmm(n.ts)))) : el("p", {class: "muted"}, "暂无提醒"));
}

const HELP_REASONS = {elderly: "老年客户需要协助"};
function noticeText(n) {
  const d = n.data || {};
  if (n.topic === "vip.arrived") return [d.who || d.name_masked || "VIP 客户", d.camera ? `（${d.camera}）` : ""].join("");
  return [d.kiosk ? `自助机 ${d.kiosk}` : "自助机", HELP_REASONS[d.reason] || d.reason || "请求协助"].join("：");
}

let notices = [];
async function load() {
  desk.status = await api("GET", "/api/status");
  renderQueues();
  const alerts = await api("GET", "/api/alerts");
  renderAlerts($("#alerts"), alerts, async (a) => { await ackAlert(a); await reload(); });
  if (!desk.cid || !desk.status.counters.some((c) => c.id === desk.cid)) { desk.counter = null; renderPicker(); return; }
  const d = await api("GET", `/api/counters/${encodeURIComponent(desk.cid)}`);
  desk.counter = d.counter;
  desk.desk = d.desk;
  desk.ticket = d.ticket;
  if (!notices.length) { notices = d.notices; renderNotices(notices); }
  renderCard();
  renderActions();
  if (typeof paperLoaded === "function") await paperLoaded();
}

let pending = null;
function refresh() { load().catch((e) => toast("刷新失败：" + e.message, "error")); }
/* load(), its failure shown as a toast (never an unhandled rejection) */
async function reload() { try { await load(); } catch (e) { toast("刷新失败：" + e.message, "error"); } }
function soon() { clearTimeout(pending); pending = setTimeout(refresh, 150); }

document.addEventListener("keydown", (e) => {
  if (e.target.closest("input,select,textarea,dialog") || e.ctrlKey || e.altKey || e.metaKey) return;
  const entry = ACTIONS.find((a) => a[1] === e.key.toUpperCase());
  if (entry) { e.preventDefault(); run(entry[0]); }
});

(async () => {
  Panel.reload = refresh;
  await startPage("counter");
  onLive((ev) => {
    if (ev.topic === "vip.arrived" || ev.topic === "staff.requested") {
      notices.unshift(ev); renderNotices(notices);
      toast(ev.topic === "vip.arrived" ? "VIP 客户到店" : "自助机请求协助", "notice");
    }
    if (/^(ticket|counter|alert|day)\./.test(ev.topic)) soon();
  });
  await reload();
  renderNotices(notices);
})();
