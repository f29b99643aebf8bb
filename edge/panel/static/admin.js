/* Manager's page: alert rules, accounts, daily report, audit trail, the face audit. */
"use strict";
const RULE_DESC = {longest_wait: "某业务最长等待超过阈值（分钟）", waiting_per_counter: "等候人数 ÷ 开放窗口数 超过阈值",
  unattended: "窗口开放且有人等候，但座位无人超过阈值（分钟）", device_offline: "设备上报离线", printer_paper: "取号打印机缺纸",
  negative_emotion: "某区域负面情绪占比超过阈值（0–1）", low_rating: "客户评价不高于阈值星级"};
const UNITS = {longest_wait: "分钟", waiting_per_counter: "人/窗口", unattended: "分钟", negative_emotion: "占比 0–1", low_rating: "星及以下"};

async function loadRules() {
  const rules = await api("GET", "/api/rules");
  const rows = Object.entries(rules).map(([name, r]) => el("tr", {"data-rule": name},
    el("td", {}, RULES[name] || name), el("td", {}, el("input", {type: "checkbox", name: name + ".enabled", checked: r.enabled})),
    el("td", {}, UNITS[name] ? el("input", {type: "number", step: "any", min: "0", class: "num-in", name: name + ".threshold", value: r.threshold}) : el("span", {class: "muted"}, "—")),
    el("td", {class: "muted"}, UNITS[name] || ""), el("td", {class: "muted small", title: r.description}, RULE_DESC[name] || r.description)));
  const form = el("form", {id: "rules-form"}, el("table", {class: "grid"},
    el("tr", {}, ["规则", "启用", "阈值", "单位", "说明"].map((h) => el("th", {}, h))), rows),
  el("button", {class: "primary", type: "submit"}, "保存规则"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = {};
    for (const name of Object.keys(rules)) {
      const th = form.elements[name + ".threshold"];
      out[name] = {enabled: form.elements[name + ".enabled"].checked, threshold: th ? Number(th.value) : rules[name].threshold};
    }
    if (await act("保存规则", () => api("PUT", "/api/rules", out))) { toast("告警规则已保存"); loadAudit(); }
  });
  fill($("#rules"), form);
}

async function loadUsers() {
  const users = await api("GET", "/api/users");
  const now = Date.now() / 1000;
  fill($("#users"), el("table", {class: "grid"},
    el("tr", {}, ["账号", "姓名", "角色", "状态", ""].map((h) => el("th", {}, h))),
    users.map((u) => el("tr", {},
      el("td", {}, u.name), el("td", {}, u.display), el("td", {}, ROLES[u.role]),
      el("td", {}, u.disabled ? "已停用" : u.locked_until > now ? "已锁定" : "正常"),
      el("td", {}, u.locked_until > now ? el("button", {onclick: async () => { await act("解锁", () => api("POST", `/api/users/${encodeURIComponent(u.name)}/unlock`)); loadUsers(); }}, "解锁") : null,
        u.name !== Panel.me.name ? el("button", {onclick: async () => { await act("停用", () => api("POST", `/api/users/${encodeURIComponent(u.name)}/disable`, {disabled: !u.disabled})); loadUsers(); }}, u.disabled ? "启用" : "停用") : null)))));
}

function userForm() {
  const form = el("form", {id: "user-form", class: "inline"},
    el("input", {name: "name", placeholder: "账号", required: true}), el("input", {name: "display", placeholder: "姓名"}),
    el("select", {name: "role"}, Object.entries(ROLES).map(([k, v]) => el("option", {value: k}, v))),
    el("input", {name: "password", type: "password", placeholder: "初始密码（至少 8 位）", required: true, autocomplete: "new-password"}),
    el("button", {class: "primary"}, "添加账号"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = {name: f.name.value.trim(), display: f.display.value.trim(), role: f.role.value, password: f.password.value};
    if (await act("添加账号", () => api("POST", "/api/users", body))) { form.reset(); toast("账号已添加"); loadUsers(); loadAudit(); }
  });
  fill($("#user-add"), form);
}

async function loadReports() {
  const names = await api("GET", "/api/reports");
  fill($("#report-list"), names.length ? el("ul", {}, names.map((n) => el("li", {}, el("a", {href: "/reports/" + n, target: "_blank"}, n))))
    : el("p", {class: "muted"}, "尚未生成日报"));
}

async function loadAudit() {
  const rows = await api("GET", "/api/audit");
  fill($("#audit"), el("table", {class: "grid small"},
    el("tr", {}, ["时间", "账号", "操作", "详情", "结果"].map((h) => el("th", {}, h))),
    rows.slice(0, 60).map((r) => el("tr", {class: r.ok ? "" : "failed"},
      el("td", {class: "nowrap"}, new Date(r.at * 1000).toLocaleString("zh-CN", {hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"})), el("td", {}, r.name), el("td", {}, r.action),
      el("td", {}, JSON.stringify(r.detail)), el("td", {}, r.ok ? "成功" : "失败")))));
}

const FACE_PURPOSE = {ticket: "刷脸取号", vip_arrival: "VIP 到店", enrolment: "登记", withdrawal: "删除"};
const FACE_DECISION = {candidate: "识别出候选人", abstained: "未识别（改用身份证）", refused: "拒绝", confirmed: "客户确认", rejected: "客户否认",
  announced: "已提醒员工", withheld: "未提醒", enrolled: "已登记", rekeyed: "换新密钥", withdrawn: "已撤回删除", expired: "到期删除"};

async function loadFaceAudit() {
  const days = Number($("#face-since").value);
  let out;
  try {
    out = await api("GET", `/api/face-audit?since=${Math.floor(Date.now() / 1000 - days * 86400)}`);
  } catch (e) {
    fill($("#face-audit"), el("p", {class: "muted", id: "face-audit-error"}, e.message));
    return;
  }
  if (!out.records.length) { fill($("#face-audit"), el("p", {class: "muted"}, "这段时间没有人脸识别记录")); return; }
  fill($("#face-audit"), el("table", {class: "grid small", id: "face-audit-table"},
    el("tr", {}, ["时间", "地点", "用途", "结果", "客户（密钥哈希）", "相似度", "原因"].map((h) => el("th", {}, h))),
    out.records.slice().reverse().map((r) => el("tr", {class: ["refused", "rejected"].includes(r.decision) ? "failed" : ""},
      el("td", {class: "nowrap"}, new Date(r.at * 1000).toLocaleString("zh-CN", {hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"})),
      el("td", {}, r.place), el("td", {}, FACE_PURPOSE[r.purpose] || r.purpose), el("td", {}, FACE_DECISION[r.decision] || r.decision),
      el("td", {class: "mono"}, r.ref || "—"), el("td", {}, r.score === null ? "—" : r.score.toFixed(3)), el("td", {class: "muted"}, r.reason)))),
  out.more ? el("p", {class: "muted"}, "仅显示最近 200 条；完整记录在盒子上：hall vision audit") : null);
}

(async () => {
  await startPage("admin");
  $("#face-go").addEventListener("click", loadFaceAudit);
  $("#face-since").addEventListener("change", loadFaceAudit);
  const day = $("#report-day");
  day.value = new Date().toISOString().slice(0, 10);
  $("#report-go").addEventListener("click", async () => {
    $("#report-go").disabled = true;
    const r = await act("生成日报", () => api("POST", "/api/reports", {day: day.value}));
    $("#report-go").disabled = false;
    if (r) { toast("日报已生成"); fill($("#report-new"), el("a", {href: r.html, target: "_blank", id: "report-html"}, "打开 HTML"), " · ", el("a", {href: r.pdf, target: "_blank"}, "下载 PDF")); loadReports(); loadAudit(); }
  });
  onLive((ev) => { if (ev.topic.startsWith("alert.rules")) loadRules(); });
  userForm();
  await Promise.all([loadRules(), loadUsers(), loadReports(), loadAudit(), loadFaceAudit()]);
})();
