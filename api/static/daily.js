// 日报: one local day of a site (GET /api/v1/reports/{site}/daily), laid out to be printed.
// The figures are the API's, cell for cell; times are the site's local times.
import { $, api, el, showLogin, takeToken, SEVERITY_ZH } from "/static/common.js";
import { loadPatrolDay, patrolSection } from "/static/patrol_day.js";
import { loadQuality } from "/static/quality_league.js";

const LIMIT = { respond: "响应", arrive: "到场", resolve: "完成" };
const WEEKDAY = ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"];
const FIGURES = [
  ["opened", "新增"],
  ["resolved", "完成"],
  ["closed", "关闭"],
  ["cancelled", "取消"],
  ["overdue", "超时"],
  ["alarms", "告警"],
  ["critical_alarms", "其中紧急"],
  ["plan_done", "保养完成"],
];

const state = { sites: [], site: null, tz: "Asia/Shanghai" };

function parts(iso, tz) {
  const fmt = new Intl.DateTimeFormat("en-CA", {
    timeZone: tz, year: "numeric", month: "numeric", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const out = {};
  for (const p of fmt.formatToParts(new Date(iso))) out[p.type] = p.value;
  return out;
}

function today(tz) {
  const p = parts(new Date().toISOString(), tz);
  return `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
}

// 14:05 on the report's day, 12月2日 14:05 on another
function when(iso, day) {
  if (!iso) return "";
  const p = parts(iso, state.tz);
  const date = `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
  const time = `${p.hour}:${p.minute}`;
  return date === day ? time : `${Number(p.month)}月${Number(p.day)}日 ${time}`;
}

function dayTitle(day) {
  const [y, m, d] = day.split("-").map(Number);
  const weekday = WEEKDAY[new Date(Date.UTC(y, m - 1, d)).getUTCDay()];
  return `${y}年${m}月${d}日（${weekday}）`;
}

function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "empty" }, empty);
  return el(
    "table",
    { class: "table" },
    el("thead", {}, el("tr", {}, headers.map(([text, cls]) => el("th", { class: cls }, text)))),
    el("tbody", {}, rows),
  );
}

function figuresTable(report) {
  const headers = [["片区"], ...FIGURES.map(([, name]) => [name, "n"])];
  const line = (name, figures, zone, cls) =>
    el(
      "tr",
      { class: cls, dataset: { zone } },
      el("td", {}, name),
      FIGURES.map(([key]) => el("td", { class: "n", dataset: { figure: key } }, figures[key])),
    );
  const rows = report.zones.map((z) => line(z.name, z, z.zone ?? "none"));
  rows.push(line("合计", report.totals, "total", "total"));
  return table(headers, rows, "");
}

function orderRows(orders, day, timeOf) {
  return orders.map((o) =>
    el(
      "tr",
      { dataset: { order: o.id } },
      el("td", { class: "when" }, timeOf(o)),
      el("td", { class: "code" }, o.code || `#${o.id}`),
      el("td", {}, o.title),
      el("td", {}, o.zone_name),
      el("td", {}, o.priority_zh),
      el("td", {}, o.assignee_name || "未指派"),
      el("td", {}, o.status_zh),
    ),
  );
}

const ORDER_HEADERS = (first) => [[first, "when"], ["工单号"], ["标题"], ["片区"], ["优先级"], ["负责人"], ["状态"]];

function section(id, title, count, body) {
  const heading = el("h3", {}, title, el("span", { class: "count" }, `${count} 项`));
  return el("section", { id }, heading, body);
}

function render(report) {
  const day = report.date;
  const sheet = $("#sheet");
  const upto = report.complete ? "全天" : `统计至 ${when(report.at, day)}`;
  document.title = `日报 ${report.site_name} ${day}`;
  const overdueRows = report.overdue.map((o) =>
    el(
      "tr",
      { dataset: { order: o.id } },
      el("td", { class: "when late" }, when(o.missed_due, day)),
      el("td", { class: "code" }, o.code || `#${o.id}`),
      el("td", {}, o.title),
      el("td", {}, o.zone_name),
      el("td", { class: "late" }, o.missed.map((m) => `${LIMIT[m] || m}超时`).join("、")),
      el("td", {}, o.assignee_name || "未指派"),
      el("td", {}, o.status_zh),
    ),
  );
  const alarmRows = report.alarms.map((a) =>
    el(
      "tr",
      { dataset: { alarm: a.id } },
      el("td", { class: "when" }, when(a.raised_at, day)),
      el("td", {}, a.asset_name),
      el("td", {}, a.zone_name),
      el("td", { class: `sev-${a.severity}` }, SEVERITY_ZH[a.severity] || a.severity),
      el("td", {}, a.message),
      el("td", {}, a.cleared_at ? `${when(a.cleared_at, day)} 已恢复` : "未恢复"),
    ),
  );
  sheet.replaceChildren(
    el(
      "header",
      {},
      el("h2", {}, `${report.site_name} 工程部日报`),
      el("p", {}, dayTitle(day), " · ", el("span", { id: "upto" }, upto)),
    ),
    el("section", { id: "figures" }, el("h3", {}, "各片区汇总"), figuresTable(report)),
    section(
      "opened",
      "新增工单",
      report.opened.length,
      table(ORDER_HEADERS("报修时间"), orderRows(report.opened, day, (o) => when(o.reported_at, day)), "当日无新增工单"),
    ),
    section(
      "resolved",
      "完成工单",
      report.resolved.length,
      table(ORDER_HEADERS("完成时间"), orderRows(report.resolved, day, (o) => when(o.resolved_at, day)), "当日无完成工单"),
    ),
    section(
      "overdue",
      "超时工单",
      report.overdue.length,
      table(
        [["时限", "when"], ["工单号"], ["标题"], ["片区"], ["超时环节"], ["负责人"], ["状态"]],
        overdueRows,
        "当日无超时",
      ),
    ),
    section(
      "plan-done",
      "保养完成",
      report.plan_done.length,
      table(ORDER_HEADERS("完成时间"), orderRows(report.plan_done, day, (o) => when(o.resolved_at, day)), "当日无保养工单完成"),
    ),
    section(
      "alarms",
      "告警",
      report.alarms.length,
      table([["时间", "when"], ["设备"], ["片区"], ["级别"], ["内容"], ["恢复"]], alarmRows, "当日无告警"),
    ),
    el(
      "div",
      { class: "signature" },
      el("span", {}, "值班员：________________"),
      el("span", {}, "工程主管：________________"),
    ),
    el("p", { class: "note" }, "新增、完成、关闭、取消按当日发生计；超时为当日到期而未按时达成的时限；告警为当日发生的告警（不含停用、计划检修期间被抑制的）；保养完成为当日完成的保养计划工单。"),
  );
  document.body.dataset.ready = `${report.site_id}:${day}`;
}

async function load() {
  const site = state.site;
  const day = $("#day").value;
  const url = new URL(location.href);
  url.searchParams.set("site", site.id);
  url.searchParams.set("date", day);
  history.replaceState(null, "", url.pathname + url.search);
  $("#duty-link").href = `/?site=${encodeURIComponent(site.id)}`;
  delete document.body.dataset.ready;
  delete document.body.dataset.quality;
  delete document.body.dataset.patrol;
  try {
    const report = await api(`/api/v1/reports/${encodeURIComponent(site.id)}/daily?date=${day}`);
    render(report);
    // 品质评比 of the day's month, before the signatures (unless another day was picked since)
    const quality = await loadQuality(site.id, report.date);
    if (document.body.dataset.ready === `${report.site_id}:${report.date}`) {
      $("#sheet .signature").before(quality);
      document.body.dataset.quality = `${report.site_id}:${report.date.slice(0, 7)}`;
    }
    // 巡更漏检 of the day, after the quality section
    const patrol = await loadPatrolDay(site.id, report.date).catch(() => null);
    if (patrol?.due && document.body.dataset.ready === `${report.site_id}:${report.date}`) {
      $("#sheet .signature").before(patrolSection(patrol, "h2"));
      document.body.dataset.patrol = `${report.site_id}:${report.date}`;
    }
  } catch (err) {
    $("#sheet").replaceChildren(el("p", { class: "error" }, `日报加载失败：${err.message}`));
  }
}

async function start() {
  if (!takeToken("duty")) {
    showLogin();
    return;
  }
  state.sites = await api("/api/v1/sites");
  if (!state.sites.length) {
    $("#sheet").replaceChildren(el("p", { class: "muted" }, "此令牌没有可查看的项目"));
    return;
  }
  const params = new URLSearchParams(location.search);
  state.site = state.sites.find((s) => s.id === params.get("site")) || state.sites[0];
  state.tz = state.site.timezone;
  const select = $("#site");
  select.replaceChildren(...state.sites.map((s) => el("option", { value: s.id }, s.name)));
  select.value = state.site.id;
  const day = $("#day");
  day.max = today(state.tz);
  day.value = /^\d{4}-\d{2}-\d{2}$/.test(params.get("date") || "") ? params.get("date") : today(state.tz);
  select.addEventListener("change", () => {
    state.site = state.sites.find((s) => s.id === select.value);
    state.tz = state.site.timezone;
    day.max = today(state.tz);
    load();
  });
  day.addEventListener("change", () => day.value && load());
  $("#print").addEventListener("click", () => window.print());
  await load();
}

start();
