/* Operations: forecast vs actual per hour, staffing plan, seat quality and points, roster, people in the hall. */
"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const n = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  for (const c of kids.flat()) if (c) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return n;
}
const fmt = (v, d = 1) => (v === null || v === undefined ? "—" : Number(v).toFixed(d));
const pct = (v) => (v === null || v === undefined ? "—" : Math.round(100 * v) + "%");
const WEEK = ["一", "二", "三", "四", "五", "六", "日"];
const SOURCES = {ir: "红外", door: "门口", camera: "摄像头", queue: "排队"};

function kpi(label, value, warn) {
  return el("div", {class: "kpi" + (warn ? " warn" : "")}, el("div", {class: "kpi-v"}, value), el("div", {class: "kpi-l"}, label));
}

function forecastChart(h) {
  const W = 560, H = 190, P = 24;
  const used = [];
  for (let i = 0; i < 24; i++) if (h.actual_total[i] || h.forecast_total[i]) used.push(i);
  if (!used.length) return el("p", {class: "muted"}, "这一天没有预测，也没有到达");
  const hours = [];
  for (let i = Math.min(8, ...used); i <= Math.max(17, ...used); i++) hours.push(i);
  const max = Math.max(1, ...hours.map((i) => Math.max(h.actual_total[i], h.forecast_total[i])));
  const bw = (W - 2 * P) / hours.length;
  const y = (v) => H - P - (v / max) * (H - 2 * P - 12);
  const bars = hours.map((i, k) => svg("rect", {x: P + k * bw + 3, y: y(h.actual_total[i]), width: bw - 6, height: H - P - y(h.actual_total[i]), class: "bar"}));
  const pts = hours.map((i, k) => `${P + k * bw + bw / 2},${y(h.forecast_total[i])}`).join(" ");
  const dots = hours.map((i, k) => svg("circle", {cx: P + k * bw + bw / 2, cy: y(h.forecast_total[i]), r: 2.5, class: "fcpt"}));
  const labels = hours.map((i, k) => svg("text", {x: P + k * bw + bw / 2, y: H - 8, class: "axis"}, String(i)));
  const values = hours.map((i, k) => h.actual_total[i] ? svg("text", {x: P + k * bw + bw / 2, y: y(h.actual_total[i]) - 3, class: "val"}, String(h.actual_total[i])) : null);
  const need = hours.map((i, k) => h.counters_planned[i] ? svg("text", {x: P + k * bw + bw / 2, y: 10, class: "need"}, h.counters_planned[i] + "窗") : null);
  const table = el("table", {class: "grid"},
    el("tr", {}, el("th", {}, "业务"), el("th", {class: "n"}, "预测"), el("th", {class: "n"}, "实际"), el("th", {class: "n"}, "差")),
    h.businesses.map((b) => {
      const f = h.forecast[b.code].reduce((a, x) => a + x, 0), a = h.actual[b.code].reduce((s, x) => s + x, 0);
      return el("tr", {}, el("td", {}, `${b.code} ${b.name}`), el("td", {class: "n"}, fmt(f)), el("td", {class: "n"}, a),
        el("td", {class: "n " + (a - f > 0 ? "neg" : "pos")}, (a - f > 0 ? "+" : "") + fmt(a - f)));
    }));
  return el("div", {id: "forecast-chart"},
    svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart"}, bars, svg("polyline", {points: pts, class: "fc"}), dots, labels, values, need),
    el("div", {class: "legend"}, el("span", {class: "sw bar"}), "实际到达", el("span", {class: "sw fc"}), "预测（当日计划）", "· 顶部为计划需开窗口数"),
    table);
}

function planTable(plan) {
  if (!plan) return el("p", {class: "muted", id: "no-plan"}, "这一天还没有保存的计划（hall ops 每天计算当天与次日的计划）");
  const rows = plan.rows.filter((r) => r.arrivals > 0);
  return el("div", {},
    el("p", {class: "muted"}, `服务水平：${Math.round(plan.service_level * 100)}% 的客户在 ${plan.within_minutes} 分钟内被叫号；依据 ${plan.history_days} 天历史`),
    el("table", {class: "grid", id: "plan-table"},
      el("tr", {}, el("th", {}, "时段"), el("th", {class: "n"}, "预测到达"), el("th", {class: "n"}, "平均办理(分)"), el("th", {class: "n"}, "需开窗口"), el("th", {}, "建议窗口"), el("th", {}, "各业务")),
      rows.map((r) => el("tr", {},
        el("td", {}, r.start.slice(11, 16)), el("td", {class: "n"}, fmt(r.arrivals)), el("td", {class: "n"}, fmt(r.aht_minutes)),
        el("td", {class: "n"}, String(r.counters), r.short ? el("span", {class: "short"}, ` 缺${r.short}`) : null),
        el("td", {}, r.open.join("、")),
        el("td", {}, Object.entries(r.businesses).filter(([, v]) => v.counters).map(([b, v]) => `${b}:${v.counters}`).join(" "))))));
}

function ratingCell(r) {
  if (!r.count) return "—";
  return `${fmt(r.average, 1)}★ (${r.count})`;
}

function seatTable(rows, key, label) {
  if (!rows.length) return el("p", {class: "muted"}, "今天还没有叫号记录");
  return el("table", {class: "grid", id: key === "staff" ? "seat-table" : "counter-table"},
    el("tr", {}, el("th", {}, label), el("th", {class: "n"}, "叫号"), el("th", {class: "n"}, "办结"), el("th", {}, "平均办理(分)·按业务"),
      el("th", {class: "n"}, "过号率"), el("th", {class: "n"}, "转移率"), el("th", {class: "n"}, "造成等待(人·分)"),
      el("th", {}, "评价"), el("th", {}, "评价原因"), el("th", {class: "n"}, "负面表情"), el("th", {class: "n"}, "积分")),
    rows.map((r) => el("tr", {"data-seat": r[key]},
      el("td", {}, r.name ? `${r.name}` : r[key]), el("td", {class: "n"}, r.called), el("td", {class: "n"}, r.served),
      el("td", {}, `${fmt(r.avg_handling_minutes)} · ` + Object.entries(r.handling_minutes).map(([b, m]) => `${b} ${fmt(m)}`).join(" ")),
      el("td", {class: "n"}, pct(r.no_show_rate)), el("td", {class: "n"}, pct(r.transfer_rate)), el("td", {class: "n"}, fmt(r.waits_caused_minutes)),
      el("td", {}, ratingCell(r.ratings), el("span", {class: "muted"}, " " + r.ratings.histogram.join("/"))),
      el("td", {}, Object.entries(r.ratings.reasons).map(([k, n]) => `${k}×${n}`).join("、") || "—"),
      el("td", {class: "n", title: r.faces ? `${r.faces} 张人脸` : "无摄像头数据"}, pct(r.negative_share)),
      el("td", {class: "n " + (r.points < 0 ? "neg" : "pos"), title: Object.entries(r.points_by_rule).map(([k, v]) => `${k} ${v}`).join("，")}, fmt(r.points)))));
}

function rulesLine(rules) {
  return el("p", {class: "muted"}, "积分规则：" + rules.map((r) => `${r.name} ${r.points > 0 ? "+" : ""}${r.points}`).join("，"));
}

function rosterGrid(data) {
  const s = data.suggested && data.suggested.data;
  const parts = [];
  const names = Object.fromEntries(((s && s.staff) || []).map((p) => [p.id, p.name]));
  if (data.hq && data.hq.length) {
    parts.push(el("h4", {}, "总部下发排班"), el("ul", {id: "hq-roster"}, data.hq.map((e) =>
      el("li", {}, `${e.day} ${names[e.staff] || e.staff} ${e.shift || ""} ${e.start}-${e.end}${e.counter ? ` ${e.counter}号窗口` : ""}`))));
  }
  if (!s) { parts.push(el("p", {class: "muted"}, "尚无排班建议（需要员工名单：总部数据包或 [services.ops] staff）")); return el("div", {}, parts); }
  const days = s.days;
  const cell = (staff, day) => s.assignments.find((a) => a.staff === staff && a.day === day);
  parts.push(el("table", {class: "grid roster", id: "roster-table"},
    el("tr", {}, el("th", {}, "员工"), days.map((d, i) => el("th", {}, `周${WEEK[i]} ${d.slice(5)}`)), el("th", {class: "n"}, "小时")),
    s.staff.map((p) => el("tr", {}, el("td", {}, `${p.name}（${p.skills.join("")}）`),
      days.map((d) => { const a = cell(p.id, d); return a ? el("td", {}, `${a.shift} ${a.start}-${a.end}`) : el("td", {class: "rest"}, "休"); }),
      el("td", {class: "n"}, fmt(s.hours[p.id]))))));
  const short = s.short.filter((x) => !x.business);
  const shortB = s.short.filter((x) => x.business);
  parts.push(el("p", {class: short.length || shortB.length ? "short" : "muted"},
    short.length || shortB.length ? `缺口：${short.length} 个时段缺窗口，${shortB.length} 个时段缺业务技能（${[...new Set(shortB.map((x) => x.business))].join("、")}）` : "排班覆盖全部需求"));
  return el("div", {}, parts);
}

async function load() {
  const day = $("#ops-day").value;
  const d = await api("GET", "/api/ops/day" + (day ? `?day=${day}` : ""));
  if (!$("#ops-day").value) $("#ops-day").value = d.day;
  if (d.role !== "manager") {
    for (const n of document.querySelectorAll(".manager-only")) n.classList.add("hidden");
    $("#seats-title").textContent = "我的坐席质量与积分";
    const mine = d.seats.staff;
    const total = mine.length ? mine[0].points : 0;
    fill($("#ops-kpis"), kpi("今日积分", fmt(total)), kpi("办结", mine.length ? mine[0].served : 0), kpi("评价", mine.length ? ratingCell(mine[0].ratings) : "—"));
    fill($("#seats"), seatTable(mine, "staff", "员工"), rulesLine(d.seats.rules));
    return;
  }
  const occ = d.occupancy;
  const h = d.hourly;
  const now = new Date().getHours();
  const kpis = [
    kpi("现在大厅人数（估计 ± 误差）", occ ? `${Math.round(occ.people)} ± ${Math.round(occ.sigma)}` : "—", occ && occ.rejected),
    kpi("人数来源" + (occ && occ.rejected ? `（未采用${SOURCES[occ.rejected] || occ.rejected}）` : ""),
      occ ? occ.sources.map((s) => `${SOURCES[s.name] || s.name} ${Math.round(s.people)}`).join(" / ") : "—"),
    kpi(`${d.day} 预测到达`, fmt(h.forecast_total.reduce((a, x) => a + x, 0), 0)),
    kpi(`${d.day} 实际到达`, h.actual_total.reduce((a, x) => a + x, 0)),
    kpi("本时段计划窗口", h.counters_planned[now] || "—"),
  ];
  fill($("#ops-kpis"), kpis);
  fill($("#forecast"), forecastChart(h));
  fill($("#plan"), planTable(d.plan));
  fill($("#seats"), seatTable(d.seats.staff, "staff", "员工"), rulesLine(d.seats.rules));
  fill($("#counters"), seatTable(d.seats.counters, "counter", "窗口"));
  const r = await api("GET", "/api/ops/roster");
  fill($("#roster"), rosterGrid(r));
}

function refresh() { load().catch((e) => toast("刷新失败：" + e.message, "error")); }
let pending = null;
function soon() { clearTimeout(pending); pending = setTimeout(refresh, 500); }

(async () => {
  await startPage("ops");
  $("#ops-day").addEventListener("change", refresh);
  onLive((ev) => { if (/^(ticket|evaluation|plan|counter)\./.test(ev.topic)) soon(); });
  await load();
  setInterval(refresh, 60000);
})();
