// 全部项目总览: every site the token may see, grouped by region, the worst first, following the
// event stream; one click opens that site's duty room. Below it the month's league of sites and
// of zones across sites (项目排名, 片区排名).
import {
  $,
  api,
  el,
  fmtClock,
  fmtHourIn,
  listen,
  logout,
  showLogin,
  takeToken,
  toast,
  TZ,
} from "/static/common.js";

const SEVERITIES = [
  ["critical", "紧急"],
  ["major", "重要"],
  ["minor", "次要"],
  ["warning", "提示"],
];

// bad: an emergency or a broken time limit; warn: something to look at; ok: quiet.
function health(s) {
  if (s.alarms.critical || s.overdue_orders) return "bad";
  const light = s.lighting;
  if (s.alarms.major || s.alarms.unacknowledged || s.devices_offline) return "warn";
  if (light.dark_circuits || light.open_faults || light.failed || light.state === "no_patrol") return "warn";
  return "ok";
}

function alarmsText(a) {
  if (!a.total) return [el("span", { class: "muted" }, "无活动告警")];
  const parts = SEVERITIES.filter(([key]) => a[key]).map(([key, zh]) =>
    el("span", { class: `badge sev-${key}` }, `${zh} ${a[key]}`),
  );
  if (a.unacknowledged) parts.push(el("span", { class: "tag bad" }, `${a.unacknowledged} 条未确认`));
  return parts;
}

function lightingText(s) {
  const l = s.lighting;
  const at = fmtHourIn(l.check_at, s.timezone);
  const bits = {
    disabled: "未启用夜间照明巡查",
    waiting: `巡查 ${at} 开始`,
    no_patrol: `巡查时间 ${at} 已过，尚无巡查工单`,
    patrolling: `巡查中，已查 ${l.checked}/${l.items}`,
    done: `巡查完成（${l.patrols_done}/${l.patrols}）`,
  };
  const out = [bits[l.state] || l.state_zh];
  const dark = Math.max(l.dark_circuits, l.open_faults);
  if (dark) out.push(`，${dark} 路疑似不亮`);
  if (l.failed) out.push(`，${l.failed} 项不合格`);
  return out.join("");
}

function card(s) {
  return el(
    "a",
    { class: `site-card ${health(s)}`, href: `/?site=${encodeURIComponent(s.site_id)}`, dataset: { site: s.site_id } },
    el("h3", {}, s.name),
    el("div", { class: "fig f-alarms" }, el("span", { class: "label" }, "告警"), ...alarmsText(s.alarms)),
    el(
      "div",
      { class: "fig f-orders" },
      el("span", { class: "label" }, "工单"),
      `${s.open_orders} 张未完成`,
      s.overdue_orders ? el("span", { class: "tag bad" }, `${s.overdue_orders} 张超时`) : "，无超时",
    ),
    el(
      "div",
      { class: "fig f-devices" },
      el("span", { class: "label" }, "设备"),
      s.devices_offline
        ? el("span", { class: "tag bad" }, `${s.devices_offline} 台离线`)
        : el("span", {}, "全部在线"),
      `（共 ${s.devices} 台${s.devices_out_of_service ? `，另有 ${s.devices_out_of_service} 台停用` : ""}）`,
    ),
    el("div", { class: "fig f-lighting" }, el("span", { class: "label" }, "今晚照明"), lightingText(s)),
  );
}

async function loadOverview() {
  const view = await api("/api/v1/overview");
  const groups = new Map(); // region name -> sites, in the order of each region's worst site
  for (const s of view.sites) {
    const name = s.region_name || "未划分区域";
    groups.set(name, [...(groups.get(name) || []), s]);
  }
  const sum = (f) => view.sites.reduce((n, s) => n + f(s), 0);
  $("#site-count").textContent = `${view.sites.length} 个项目`;
  $("#totals").textContent = [
    `紧急告警 ${sum((s) => s.alarms.critical)} 条`,
    `未确认告警 ${sum((s) => s.alarms.unacknowledged)} 条`,
    `超时工单 ${sum((s) => s.overdue_orders)} 张`,
    `离线设备 ${sum((s) => s.devices_offline)} 台`,
  ].join(" · ");
  const box = $("#regions");
  if (!view.sites.length) {
    box.replaceChildren(el("p", { class: "muted" }, "此令牌没有可查看的项目"));
    return;
  }
  box.replaceChildren(
    ...[...groups].map(([name, sites]) =>
      el(
        "section",
        { class: "region", dataset: { region: sites[0].region || "" } },
        el("h3", { class: "region-name" }, name, el("span", { class: "count" }, `${sites.length} 个项目`)),
        el("div", { class: "cards" }, sites.map(card)),
      ),
    ),
  );
}

// --- 月度排名 -----------------------------------------------------------------------------

function pct(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}

function hours(h) {
  return h === null || h === undefined ? "—" : `${h.toFixed(1)} 小时`;
}

function thisMonth() {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: TZ, year: "numeric", month: "2-digit" })
    .formatToParts(new Date())
    .reduce((o, p) => ({ ...o, [p.type]: p.value }), {});
  return `${parts.year}-${parts.month}`;
}

function figures(r) {
  return [
    el("td", { class: "num" }, r.work_orders),
    el("td", { class: "num" }, r.resolved),
    el("td", { class: "num" }, pct(r.resolve_on_time_rate)),
    el("td", { class: "num" }, hours(r.mttr_hours)),
    el("td", { class: "num" }, pct(r.rework_rate)),
    el("td", { class: "num" }, r.overdue),
    el("td", { class: "num" }, r.score.toFixed(1)),
  ];
}

const FIGURE_HEADS = ["工单", "完成", "按时完成率", "平均修复", "返修率", "超时", "得分"];

function table(heads, rows) {
  return el(
    "table",
    { class: "table league" },
    el("thead", {}, el("tr", {}, heads.map((t) => el("th", {}, t)))),
    el("tbody", {}, rows),
  );
}

async function loadLeague() {
  const month = $("#league-month").value || thisMonth();
  const body = $("#league-body");
  let league;
  try {
    league = await api(`/api/v1/reports/league?month=${encodeURIComponent(month)}`);
  } catch (err) {
    if (err.status !== 401) body.replaceChildren(el("p", { class: "error" }, `无法读取排名：${err.message}`));
    return;
  }
  const [year, number] = month.split("-");
  const sites = table(
    ["排名", "项目", "区域", ...FIGURE_HEADS],
    league.sites.map((r) =>
      el(
        "tr",
        { dataset: { site: r.site_id } },
        el("td", { class: "num" }, r.rank),
        el("td", {}, el("a", { href: `/?site=${encodeURIComponent(r.site_id)}` }, r.name)),
        el("td", {}, r.region_name || "—"),
        ...figures(r),
      ),
    ),
  );
  const zones = el(
    "details",
    { class: "zone-league" },
    el("summary", {}, `片区排名（跨项目，共 ${league.zones.length} 个片区）`),
    table(
      ["排名", "项目", "片区", ...FIGURE_HEADS],
      league.zones.map((z) =>
        el(
          "tr",
          { dataset: { site: z.site_id, zone: z.zone } },
          el("td", { class: "num" }, z.rank),
          el("td", {}, z.site_name),
          el("td", {}, z.name),
          ...figures(z),
        ),
      ),
    ),
  );
  body.replaceChildren(
    el("p", { class: "muted" }, `${Number(year)}年${Number(number)}月，各项目按其所在时区的自然月统计；得分 = 100 × 按时完成率 − 50 × 返修率`),
    sites,
    zones,
  );
}

// --- wiring -------------------------------------------------------------------------------

function guarded(load) {
  return load().catch((err) => {
    if (err.status === 403) {
      $("#regions").replaceChildren(el("p", { class: "error" }, "此令牌无权查看全部项目总览"));
    } else if (err.status !== 401) {
      console.error(err);
      toast(`加载失败：${err.message}`, "error");
    }
  });
}

let timer = null;
function refreshSoon() {
  // a storm across sites is one reload per burst, not one per event
  clearTimeout(timer);
  timer = setTimeout(() => guarded(loadOverview), 300);
}

async function main() {
  if (!takeToken()) {
    showLogin();
    return;
  }
  $("#logout").addEventListener("click", logout);
  const monthInput = $("#league-month");
  monthInput.value = thisMonth();
  monthInput.max = thisMonth();
  monthInput.addEventListener("change", () => guarded(loadLeague));
  try {
    const me = await api("/api/v1/me");
    $("#who").textContent = me.person_name || me.name;
  } catch (err) {
    if (err.status !== 401) toast(`加载失败：${err.message}`, "error");
    return;
  }
  const stream = $("#stream-state");
  listen(
    () => refreshSoon(),
    (s) => {
      stream.textContent = s === "live" ? "实时" : "重连中";
      stream.className = `dot ${s}`;
      document.body.dataset.stream = s;
      if (s === "live") {
        guarded(loadOverview);
        guarded(loadLeague);
      }
    },
  );
  setInterval(() => {
    $("#clock").textContent = fmtClock(new Date());
  }, 1000);
  $("#clock").textContent = fmtClock(new Date());
  // devices going offline are asset state, not stream events: look again each minute
  setInterval(refreshSoon, 60000);
}

main();
