/* Hall dashboard: queues, counters, people in the hall, arrivals, heatmap, emotion, ratings, devices, HQ link, alerts. */
"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const n = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  for (const c of kids.flat()) if (c) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return n;
}

function kpi(label, value, id, warn) {
  return el("div", {class: "kpi" + (warn ? " warn" : ""), id}, el("div", {class: "kpi-v"}, value), el("div", {class: "kpi-l"}, label));
}

function arrivalsChart(today, last, label) {
  const W = 520, H = 170, P = 24;
  const used = [];
  for (let h = 0; h < 24; h++) if (today[h] || last[h]) used.push(h);
  const hours = [];
  for (let h = Math.min(7, ...used); h <= Math.max(19, ...used); h++) hours.push(h);
  const max = Math.max(1, ...hours.map((h) => Math.max(today[h], last[h])));
  const bw = (W - 2 * P) / hours.length;
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  const bars = hours.map((h, i) => svg("rect", {x: P + i * bw + 3, y: y(today[h]), width: bw - 6, height: H - P - y(today[h]), class: "bar"}));
  const pts = hours.map((h, i) => `${P + i * bw + bw / 2},${y(last[h])}`).join(" ");
  const labels = hours.map((h, i) => svg("text", {x: P + i * bw + bw / 2, y: H - 8, class: "axis"}, String(h)));
  const values = hours.map((h, i) => today[h] ? svg("text", {x: P + i * bw + bw / 2, y: y(today[h]) - 3, class: "val"}, String(today[h])) : null);
  return el("div", {},
    svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart"}, bars, svg("polyline", {points: pts, class: "lastweek"}), labels, values),
    el("div", {class: "legend"}, el("span", {class: "sw bar"}), `今日${label}`, el("span", {class: "sw lastweek"}), "上周同日"));
}

// People in the hall as the core reconciles them (beams or a camera's line, cameras, the queue), with its ±.
const SOURCES = {ir: "红外", door: "门口", camera: "摄像头", queue: "排队"};
function inHall(occ) {
  if (!occ) return kpi("厅内人数", "—", "kpi-inhall");
  const value = el("span", {}, String(Math.round(occ.people)), el("span", {class: "kpi-pm"}, ` ±${Math.round(occ.sigma)}`));
  const said = occ.sources.map((s) => `${SOURCES[s.name] || s.name} ${Math.round(s.people)}`).join(" / ");
  const left = occ.rejected ? `，未采用${SOURCES[occ.rejected] || occ.rejected}` : "";
  const tile = kpi("厅内人数（估计）", value, "kpi-inhall", Boolean(occ.rejected));
  tile.append(el("div", {class: "kpi-l kpi-src"}, said + left));
  return tile;
}

function devicesTable(devices) {
  if (!devices.length) return el("p", {class: "muted"}, "尚无设备健康上报");
  const cls = {ok: "ok", degraded: "warn", fault: "bad", offline: "bad"};
  return el("table", {class: "grid"}, el("tr", {}, el("th", {}, "设备"), el("th", {}, "状态"), el("th", {}, "说明"), el("th", {}, "时间")),
    devices.map((d) => el("tr", {}, el("td", {}, d.key), el("td", {}, el("span", {class: "badge " + (cls[d.data.state] || "")},
      {ok: "正常", degraded: "降级", fault: "故障", offline: "离线"}[d.data.state] || d.data.state || "?")),
    el("td", {}, d.data.detail || d.data.reason || ""), el("td", {}, hhmm(d.at)))));
}

function emotionBlock(list) {
  const fresh = list.filter((e) => e.fresh && e.negative_share !== null);
  if (!fresh.length) return el("p", {class: "muted"}, "无摄像头情绪数据");
  return el("div", {}, fresh.map((e) => {
    const d = e.data;
    const total = (d.positive || 0) + (d.neutral || 0) + (d.negative || 0) || 1;
    const seg = (k, cls) => { const s = el("span", {class: "seg " + cls}); s.style.width = (100 * (d[k] || 0) / total) + "%"; return s; };
    return el("div", {class: "emo"}, el("span", {class: "emo-zone"}, e.key),
      el("div", {class: "stack"}, seg("positive", "pos"), seg("neutral", "neu"), seg("negative", "neg")),
      el("span", {class: "emo-v"}, `负面 ${Math.round(100 * e.negative_share)}%`));
  }));
}

function bundleLine(b) {
  if (!b || !b.version) return el("p", {class: "muted"}, "总部数据包：尚未收到");
  return el("p", {class: "muted", id: "hq-bundle"}, `总部数据包：第 ${b.version} 版，${String(b.applied_at || "").replace("T", " ").slice(0, 16)} 生效`);
}

function syncBlock(sync, bundle) {
  if (!sync) return el("div", {}, el("p", {class: "muted", id: "hq-link"}, "未配置（本厅未接入总部同步）"), bundle && bundle.version ? bundleLine(bundle) : null);
  const d = sync.data;
  return el("div", {}, el("dl", {class: "facts", id: "hq-link"},
    el("dt", {}, "待上传"), el("dd", {}, String(d.backlog ?? "—")),
    el("dt", {}, "最近确认"), el("dd", {}, d.last_ack ? String(d.last_ack).replace("T", " ").slice(0, 19) : "—"),
    el("dt", {}, "状态"), el("dd", {}, d.state === "offline" ? "断开" + (d.last_error ? "：" + d.last_error : "") : "在线"),
    el("dt", {}, "更新"), el("dd", {}, hhmm(sync.at))), bundleLine(bundle));
}

async function load() {
  const d = await api("GET", "/api/dashboard");
  const st = d.stats, s = d.status, f = d.facts;
  const waiting = s.businesses.reduce((a, b) => a + b.waiting, 0);
  const issued = st.businesses.reduce((a, b) => a + b.issued, 0);
  const done = st.businesses.reduce((a, b) => a + b.done, 0);
  $("#hall-name").textContent = `${s.hall.name} · ${s.day}`;
  fill($("#kpis"),
    kpi("等候人数", waiting, "kpi-waiting", waiting > 20),
    inHall(d.occupancy),
    kpi("今日取号", issued, "kpi-issued"),
    kpi("今日办结", done, "kpi-done"),
    kpi("平均等待", minutes(st.waits.average_s), "kpi-wait"),
    kpi("评价均分", st.evaluations.average ?? "—", "kpi-eval", st.evaluations.average !== null && st.evaluations.average < 4),
    kpi("未到", st.no_shows, "kpi-noshow"),
    kpi("活动告警", d.alerts.length, "kpi-alerts", d.alerts.length > 0));
  const byCode = Object.fromEntries(st.businesses.map((b) => [b.code, b]));
  fill($("#queues"), el("table", {class: "grid"},
    el("tr", {}, ["业务", "等候", "最长等待", "今日取号", "办结", "未到", "平均等待"].map((h) => el("th", {}, h))),
    s.businesses.map((b) => el("tr", {"data-business": b.code}, el("td", {}, `${b.code} ${b.name}`), el("td", {class: "num big"}, String(b.waiting)),
      el("td", {class: "num" + (b.longest_wait_s > 1200 ? " hot" : "")}, minutes(b.longest_wait_s)), el("td", {class: "num"}, String(byCode[b.code].issued)),
      el("td", {class: "num"}, String(byCode[b.code].done)), el("td", {class: "num"}, String(byCode[b.code].no_show)),
      el("td", {class: "num"}, minutes(byCode[b.code].avg_wait_s))))));
  const cstats = Object.fromEntries(st.counters.map((c) => [c.id, c]));
  const seats = Object.fromEntries(f.seats.map((x) => [x.key, x.data.present]));
  fill($("#counters"), el("table", {class: "grid"},
    el("tr", {}, ["窗口", "状态", "工作人员", "当前号", "在座", "今日服务", "平均办理"].map((h) => el("th", {}, h))),
    s.counters.map((c) => el("tr", {"data-counter": c.id}, el("td", {}, c.name), el("td", {}, el("span", {class: "badge s-" + c.state}, STATES[c.state] + (c.pause_reason ? "·" + c.pause_reason : ""))),
      el("td", {}, c.staff_display || c.staff || "—"), el("td", {class: "cur"}, c.current ? `${c.current.number} ${STATES[c.current.state]}` : "—"),
      el("td", {}, c.id in seats ? (seats[c.id] ? "在座" : "离座") : "—"),
      el("td", {class: "num"}, String(cstats[c.id] ? cstats[c.id].served : 0)), el("td", {class: "num"}, minutes(cstats[c.id] && cstats[c.id].avg_handling_s))))));
  const measured = f.door.today.measured || f.door.last_week.measured;
  fill($("#arrivals"), measured ? arrivalsChart(f.door.today.hours_in, f.door.last_week.hours_in, "进厅")
    : arrivalsChart(st.issued_by_hour, st.issued_by_hour_last_week, "取号"));
  fill($("#heatmap"), f.heatmap_png ? el("img", {src: "/api/heatmap.png?t=" + (f.heatmap ? Date.parse(f.heatmap.at) : Date.now()), alt: "客流热力图"}) : el("p", {class: "muted"}, "无摄像头数据"));
  fill($("#emotion"), emotionBlock(f.emotion));
  const ev = st.evaluations;
  fill($("#ratings"), ev.count ? el("div", {}, el("div", {class: "stars"}, `${ev.average} / 5`, el("span", {class: "muted"}, ` ${ev.count} 条评价，低分 ${ev.low} 条`)),
    el("div", {class: "hist"}, ev.histogram.map((n, i) => el("span", {}, `${i + 1}★ ${n}`)))) : el("p", {class: "muted"}, "今日暂无评价"));
  fill($("#mood"), moodTable(st.counter_mood || [], s.counters));
  fill($("#devices"), devicesTable(f.devices));
  fill($("#hq"), syncBlock(f.sync, d.bundle));
  renderAlerts($("#alerts"), d.alerts, async (a) => { await ackAlert(a); await reload(); });
}

// Per counter and hour: the negative-expression share of the faces seen there beside its ratings.
function moodTable(rows, counters) {
  if (!rows.length) return el("p", {class: "muted"}, "今日暂无窗口情绪数据");
  const names = Object.fromEntries(counters.map((c) => [c.id, c.name]));
  const pct = (v) => (v === null ? "—" : Math.round(v * 100) + "%");
  return el("table", {class: "grid"},
    el("tr", {}, ["窗口", "时段", "人脸", "负面表情", "评价", "均分"].map((h) => el("th", {}, h))),
    rows.map((m) => el("tr", {"data-mood": `${m.counter}-${m.hour}`}, el("td", {}, names[m.counter] || m.counter),
      el("td", {}, `${String(m.hour).padStart(2, "0")}:00`), el("td", {class: "num"}, String(m.faces)),
      el("td", {class: "num"}, pct(m.negative_share)), el("td", {class: "num"}, String(m.ratings)),
      el("td", {class: "num"}, m.rating_avg === null ? "—" : String(m.rating_avg)))));
}

let pending = null;
function refresh() { load().catch((e) => toast("刷新失败：" + e.message, "error")); }
/* load(), its failure shown as a toast (never an unhandled rejection) */
async function reload() { try { await load(); } catch (e) { toast("刷新失败：" + e.message, "error"); } }
function soon() { clearTimeout(pending); pending = setTimeout(refresh, 300); }

(async () => {
  Panel.reload = refresh;
  await startPage("dashboard");
  onLive((ev) => {
    if (ev.topic === "vip.arrived") toast("VIP 客户到店", "notice");
    if (ev.topic === "staff.requested") toast("自助机请求协助", "notice");
    soon();
  });
  refresh();
  setInterval(refresh, 30000);
})();
