/* Paperless forms (无纸化): fill a form for the called customer, push it to the counter's pad, follow it to the signature. */
"use strict";
const paper = {templates: [], chosen: null, current: null, values: {}, flagged: [], records: []};
const PAPER_STATES = {pushed: "已推送到客户屏，等待客户核对", confirmed: "客户已确认，正在签名"};
const PAPER_ENDS = {cancelled: "已撤回", abandoned: "客户长时间未操作，客户屏已撤回", ticket_ended: "业务已结束，表单已撤回",
  replaced: "已被新推送的表单替换"};
const INPUTS = {number: "text", phone: "tel", date: "date", account: "text", text: "text"};

function paperCounter() { return desk.counter ? desk.counter.id : null; }

async function paperLoaded() {
  const cid = paperCounter();
  if (!cid) { $("#paper").hidden = true; fill($("#records")); return; }
  if (!paper.templates.length) paper.templates = await api("GET", "/api/forms");
  paper.current = await api("GET", `/api/counters/${encodeURIComponent(cid)}/form`);
  const asked = paper.current && paper.current.form && paper.current.form.correction_asked;
  if (asked) paper.flagged = asked;  // kept by the core: a page opened after the customer asked still shows it
  paper.records = await api("GET", `/api/records?counter=${encodeURIComponent(cid)}`);
  renderPaper();
  renderRecords();
}

function paperTemplate() { return paper.templates.find((t) => t.id === paper.chosen) || null; }

function paperValue(template, field) {
  const mine = (paper.values[template.id] || {})[field.key];
  if (mine !== undefined) return mine;
  const form = paper.current && paper.current.form;
  if (form && form.kind === template.id && field.format !== "id") {
    const f = form.fields.find((x) => x.key === field.key);
    if (f) return f.value;
  }
  if (field.format === "id") return desk.ticket && desk.ticket.customer && desk.ticket.customer.kind === "id" ? "customer" : "";
  return "";
}

function setPaperValue(template, key, value) {
  paper.values[template.id] = paper.values[template.id] || {};
  paper.values[template.id][key] = value;
}

function paperField(template, field) {
  const value = paperValue(template, field);
  const flagged = paper.flagged.includes(field.key);
  const label = el("span", {}, field.label, field.required ? el("b", {class: "req"}, " *") : null,
    flagged ? el("span", {class: "flag"}, " 客户请求修改") : null);
  let input;
  if (field.format === "choice") {
    input = el("select", {name: field.key, onchange: (e) => setPaperValue(template, field.key, e.target.value)},
      el("option", {value: ""}, "（请选择）"),
      field.choices.map((c) => el("option", {value: c, selected: c === value}, c)));
  } else if (field.format === "id") {
    const customer = desk.ticket && desk.ticket.customer;
    const typed = value && typeof value === "object" ? value : null;
    const kept = paperKept(field);
    const number = el("input", {name: field.key + ".number", type: "text", autocomplete: "off", maxlength: 18,
      placeholder: "身份证号（只保留脱敏号与密钥哈希）", value: typed ? typed.number : "", hidden: !typed,
      oninput: (e) => setPaperValue(template, field.key, {number: e.target.value.trim().toUpperCase()})});
    const choose = el("select", {name: field.key, onchange: (e) => {
      const typedNow = e.target.value === "typed";
      number.hidden = !typedNow;
      setPaperValue(template, field.key, typedNow ? {number: number.value.trim().toUpperCase()} : e.target.value);
    }},
      kept ? el("option", {value: "keep", selected: value === "keep"}, `保留已录入的 ${kept}`) : null,
      customer && customer.kind === "id" ? el("option", {value: "customer", selected: value === "customer"}, `客户本人（已刷身份证 ${customer.masked}）`) : null,
      el("option", {value: "typed", selected: !!typed}, "手工输入身份证号"),
      field.required ? null : el("option", {value: "", selected: value === ""}, "（不填）"));
    if (!customer || customer.kind !== "id") { if (!typed && field.required) number.hidden = false; }
    input = el("span", {class: "idpick"}, choose, number);
  } else {
    input = el("input", {name: field.key, type: INPUTS[field.format] || "text", value, autocomplete: "off",
      maxlength: field.max_length, oninput: (e) => setPaperValue(template, field.key, e.target.value)});
  }
  return el("label", {class: "pf" + (flagged ? " flagged" : "")}, label, input);
}

function paperKept(field) {
  const form = paper.current && paper.current.form;
  if (!form || form.kind !== paper.chosen) return null;
  const f = form.fields.find((x) => x.key === field.key);
  return f && f.value ? f.value : null;
}

function paperStatus() {
  const form = paper.current && paper.current.form;
  if (form) return el("div", {class: "pstate s-" + form.state, id: "paper-state"}, `${form.title}：${PAPER_STATES[form.state] || form.state}`);
  const last = paper.records.length ? paper.records[paper.records.length - 1] : null;
  if (last && desk.ticket && last.number === desk.ticket.number)
    return el("div", {class: "pstate s-signed", id: "paper-state"}, `客户已签署 ${last.title}（${last.id}）`,
      el("button", {class: "link", onclick: () => showRecord(last.id)}, "查看"),
      el("a", {href: `/api/records/${last.id}/receipt.pdf`, target: "_blank", rel: "noopener"}, "回执 PDF"));
  return el("div", {class: "pstate muted", id: "paper-state"}, "尚未推送表单");
}

function renderPaper() {
  const box = $("#paper");
  const t = desk.ticket;
  if (!t) { box.hidden = true; return; }
  box.hidden = false;
  const form = paper.current && paper.current.form;
  const mine = paper.templates.filter((x) => x.business === t.business);
  const others = paper.templates.filter((x) => x.business !== t.business);
  if (!paperTemplate()) paper.chosen = (form && form.kind) || (mine[0] || others[0] || {}).id || null;
  const template = paperTemplate();
  if (!template) { fill($("#paper-body"), el("p", {class: "muted"}, "本厅没有可用的表单模板")); return; }
  const pick = el("select", {id: "paper-template", onchange: (e) => { paper.chosen = e.target.value; renderPaper(); }},
    mine.length ? el("optgroup", {label: "本业务"}, mine.map((x) => el("option", {value: x.id, selected: x.id === template.id}, x.title))) : null,
    others.length ? el("optgroup", {label: "其他业务"}, others.map((x) => el("option", {value: x.id, selected: x.id === template.id}, `${x.business} ${x.title}`))) : null);
  fill($("#paper-body"),
    el("div", {class: "prow"}, el("label", {}, "表单 ", pick), paperStatus()),
    paper.flagged.length ? el("div", {class: "pflag", id: "paper-flag"}, "客户请求修改：" +
      paper.flagged.map((k) => (template.fields.find((f) => f.key === k) || {label: k}).label).join("、")) : null,
    el("form", {id: "paper-form", class: "pfields", onsubmit: (e) => { e.preventDefault(); pushPaper(); }},
      template.fields.map((f) => paperField(template, f))),
    el("div", {class: "pbuttons"},
      el("button", {class: "primary", id: "paper-push", onclick: () => pushPaper()}, form ? "修改后重新推送" : "推送到客户屏"),
      el("button", {id: "paper-cancel", disabled: !form, onclick: () => cancelPaper()}, "撤回表单")));
}

async function pushPaper() {
  const template = paperTemplate();
  if (!template || desk.busy) return;
  const values = {};
  for (const f of template.fields) {
    const v = paperValue(template, f);
    if (v !== "" && v !== null && v !== undefined) values[f.key] = v;
  }
  const r = await act("推送表单", () => api("POST", `/api/counters/${encodeURIComponent(paperCounter())}/form`, {form: template.id, values}));
  if (r) {
    toast("已推送到客户屏");
    paper.flagged = [];
    for (const f of template.fields) {  // a typed ID number leaves the page once pushed: its masked form stays
      if (f.format === "id" && typeof values[f.key] === "object") setPaperValue(template, f.key, "keep");
    }
    await paperLoaded();
  }
}

async function cancelPaper() {
  const r = await act("撤回表单", () => api("POST", `/api/counters/${encodeURIComponent(paperCounter())}/form/cancel`, {reason: "工作人员撤回"}));
  if (r) { toast("表单已撤回"); paper.flagged = []; await paperLoaded(); }
}

function renderRecords() {
  fill($("#records"), paper.records.length ? el("table", {class: "grid small"},
    el("tr", {}, el("th", {}, "#"), el("th", {}, "号码"), el("th", {}, "表单"), el("th", {}, "时间"), el("th", {})),
    paper.records.slice().reverse().map((r) => el("tr", {"data-record": r.id},
      el("td", {}, String(r.n)), el("td", {}, r.number || "—"), el("td", {}, r.title), el("td", {}, hhmm(r.signed_at)),
      el("td", {class: "nowrap"}, el("button", {class: "link", onclick: () => showRecord(r.id)}, "查看"), " ",
        el("a", {href: `/api/records/${r.id}/receipt.pdf`, target: "_blank", rel: "noopener"}, "回执"))))) : el("p", {class: "muted"}, "今日本窗口暂无签署"));
}

async function showRecord(id) {
  const shown = await act("读取记录", () => api("GET", `/api/records/${encodeURIComponent(id)}`));
  if (!shown) return;
  const r = shown.record;
  const ok = shown.verified.ok;
  const dlg = $("#dlg");
  fill(dlg, el("div", {class: "record", id: "record-view"},
    el("h3", {}, `${r.form.title} · ${r.id}`),
    el("div", {class: "badge " + (ok ? "ok" : "bad"), id: "record-verified"}, ok ? "✓ 校验通过：记录未被改动" : "✗ 校验失败：" + shown.verified.problems.map((p) => p.problem).join("；")),
    el("dl", {class: "facts"}, r.form.fields.flatMap((f) => [el("dt", {}, f.label), el("dd", {}, f.value || "—")])),
    el("img", {src: `/api/records/${encodeURIComponent(r.id)}/signature.png`, alt: "客户签名", class: "sig"}),
    el("p", {class: "muted small"}, `号码 ${r.ticket.number} · ${r.counter_name} · ${r.staff || ""} · 签署 ${new Date(r.signed_at).toLocaleString("zh-CN", {hour12: false})}`),
    el("p", {class: "muted small digest"}, "SHA-256 " + r.digest),
    el("div", {class: "dlg-buttons"},
      el("a", {href: `/api/records/${encodeURIComponent(r.id)}/receipt.pdf`, target: "_blank", rel: "noopener", class: "button"}, "打印回执 (PDF)"),
      el("button", {class: "primary", onclick: () => dlg.close()}, "关闭"))));
  dlg.showModal();
}

onLive((ev) => {
  const d = ev.data || {};
  if (!paperCounter() || d.counter !== paperCounter()) return;
  if (ev.topic === "pad.correction_requested" && paper.current && paper.current.form && d.form_id === paper.current.form.id) {
    paper.flagged = d.fields || [];
    toast("客户请求修改：" + ((d.labels || []).join("、") || "请与客户核对"), "notice");
    renderPaper();
  } else if (ev.topic === "form.withdrawn" && d.reason !== "replaced") {
    toast("客户屏表单" + (PAPER_ENDS[d.reason] || "已撤回"), "notice");
    paperLoaded().catch(() => {});
  } else if (ev.topic === "record.signed") {
    toast(`客户已签署：${(d.form || {}).title || ""}（${d.id}）`);
    paper.values = {};
    paperLoaded().catch(() => {});
  } else if (/^form\./.test(ev.topic)) {
    paperLoaded().catch(() => {});
  }
});
