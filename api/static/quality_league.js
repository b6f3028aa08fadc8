// 品质评比 on the 日报: the month of the report's day, from GET /api/v1/sites/{site}/quality/league
// (zones and departments ranked by inspection score). Figures are the API's, cell for cell;
// a rate is shown as a percentage, a figure with nothing behind it as "—".
import { api, el } from "/static/common.js";

export const QUALITY_FIGURES = [
  ["inspections", "检查次数"],
  ["score", "检查得分"],
  ["findings", "发现问题"],
  ["on_time_rate", "整改按时率"],
  ["recheck_failure_rate", "复查不通过率"],
  ["overdue_now", "当前超期"],
];

export function shown(key, value) {
  if (value === null || value === undefined) return "—";
  if (key.endsWith("_rate")) return `${(value * 100).toFixed(1)}%`;
  if (key === "score") return value.toFixed(1); // 100.0, as the API rounds it
  return String(value);
}

function severities(row) {
  const s = row.findings_by_severity;
  return `一般 ${s.general} · 重要 ${s.important} · 紧急 ${s.emergency}`;
}

function rows(entries, kind, keyOf) {
  return entries.map((e) =>
    el(
      "tr",
      { dataset: { [kind]: keyOf(e) } },
      el("td", { class: "n", dataset: { figure: "rank" } }, e.rank),
      el("td", {}, e.name),
      QUALITY_FIGURES.map(([key]) =>
        el("td", { class: "n", dataset: { figure: key }, title: key === "findings" ? severities(e) : undefined }, shown(key, e[key])),
      ),
    ),
  );
}

function leagueTable(first, body, total) {
  const head = el(
    "tr",
    {},
    el("th", { class: "n" }, "排名"),
    el("th", {}, first),
    QUALITY_FIGURES.map(([, name]) => el("th", { class: "n" }, name)),
  );
  const totalRow = total
    ? el(
        "tr",
        { class: "total", dataset: { zone: "total" } },
        el("td", {}, ""),
        el("td", {}, "全项目"),
        QUALITY_FIGURES.map(([key]) => el("td", { class: "n", dataset: { figure: key } }, shown(key, total[key]))),
      )
    : null;
  const table = el("table", { class: "table" }, el("thead", {}, head), el("tbody", {}, body, totalRow));
  return el("div", { class: "wide" }, table); // scrolls by itself on a phone
}

export function qualitySection(league) {
  const [year, month] = league.month.split("-").map(Number);
  const section = el(
    "section",
    { id: "quality", dataset: { month: league.month } },
    el("h3", {}, `品质评比（${year}年${month}月）`),
    leagueTable("片区", rows(league.zones, "zone", (z) => z.zone), league.site),
    leagueTable("部门", rows(league.departments, "department", (d) => d.department), null),
    el(
      "p",
      { class: "note" },
      "检查得分为当月品质检查得分率的平均；整改按时率为当月到期的整改中按期复查通过的比例；复查不通过率为当月复查中不通过的比例；当前超期为此刻已过整改期限仍未完成的整改单。",
    ),
  );
  return section;
}

export async function loadQuality(siteId, day) {
  const month = day.slice(0, 7);
  const url = `/api/v1/sites/${encodeURIComponent(siteId)}/quality/league?month=${month}`;
  try {
    return qualitySection(await api(url));
  } catch (err) {
    return el("section", { id: "quality" }, el("h3", {}, "品质评比"), el("p", { class: "error" }, `品质评比加载失败：${err.message}`));
  }
}
