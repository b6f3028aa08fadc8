// 巡更 of a day for the duty room's 今日盘点 and the 日报: the day's totals and each missed point
// (漏巡) once, from GET /api/v1/sites/{site}/patrol/rounds?date= — the API's figures as given.
import { api, el } from "/static/common.js";

export async function loadPatrolDay(siteId, date) {
  const q = date ? `?date=${encodeURIComponent(date)}` : "";
  return api(`/api/v1/sites/${encodeURIComponent(siteId)}/patrol/rounds${q}`);
}

export function patrolSection(day, heading = "h3") {
  const totals = `应巡 ${day.due}，已巡 ${day.on_time}，补巡 ${day.late}，漏巡 ${day.missed}，待巡 ${day.left}`;
  const missed = day.missed_points.length
    ? el(
        "table",
        { class: "table patrol-missed" },
        el("thead", {}, el("tr", {}, ["时段", "巡更", "点位", "责任人"].map((t) => el("th", {}, t)))),
        el(
          "tbody",
          {},
          day.missed_points.map((m) =>
            el(
              "tr",
              { dataset: { missed: `${m.patrol_name} ${m.window_local} ${m.point}` } },
              el("td", {}, m.window_local),
              el("td", {}, m.patrol_name),
              el("td", {}, m.point_name),
              el("td", {}, m.who.join("、") || "—"),
            ),
          ),
        ),
      )
    : el("p", { class: "ok-note" }, day.due ? "无漏巡" : "今日无巡更计划");
  return el(
    "section",
    { class: "patrol-day", dataset: { patrolDay: day.date } },
    el(heading, {}, "巡更漏检"),
    el("p", { class: "patrol-totals" }, totals),
    missed,
  );
}
