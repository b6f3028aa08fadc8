// 值班室: alarms, open work orders with their SLA countdown, assets by zone and building,
// tonight's lighting check and today's stocktake; refreshed from the event stream.
import {
  $,
  api,
  el,
  fmtClock,
  fmtTime,
  LIMIT_ZH,
  listen,
  logout,
  nextDue,
  SEVERITY_ZH,
  showLogin,
  takeToken,
  tickCountdowns,
  toast,
} from "/static/common.js";

const OPEN = ["registered", "dispatched", "accepted", "on_site", "on_hold", "reopened"];
const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, warning: 3 };
const SHELVE_HOURS = [1, 4, 12, 24];

const state = { site: null, people: {}, zones: {}, me: null, assetNames: {} };

function person(id) {
  return id ? state.people[id] || id : "未指派";
}

// --- alarms -----------------------------------------------------------------------------

async function loadAlarms() {
  if (!Object.keys(state.assetNames).length) {
    const assets = await api(`/api/v1/assets?site_id=${encodeURIComponent(state.site.id)}`);
    state.assetNames = Object.fromEntries(assets.map((a) => [a.id, a.name]));
  }
  const alarms = await api(
    `/api/v1/alarms?site_id=${encodeURIComponent(state.site.id)}&state=raised&limit=200`,
  );
  alarms.sort(
    (a, b) =>
      a.shelved - b.shelved ||
      (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
      b.raised_at.localeCompare(a.raised_at),
  );
  const active = alarms.filter((a) => !a.shelved);
  $("#alarm-count").textContent = `${active.length} 条活动${
    alarms.length > active.length ? `，${alarms.length - active.length} 条已搁置` : ""
  }`;
  const list = $("#alarm-list");
  if (!alarms.length) {
    list.replaceChildren(el("p", { class: "ok-note" }, "当前没有告警"));
    return;
  }
  list.replaceChildren(el("table", { class: "table alarms" }, alarms.map(alarmRow)));
}

function alarmRow(a) {
  const status = a.shelved
    ? `已搁置至 ${fmtTime(a.shelved_until)}（${a.shelve_reason || ""}）`
    : a.acknowledged_at
      ? `已确认 · ${a.acknowledged_by} ${fmtTime(a.acknowledged_at)}`
      : "未确认";
  const actions = el("td", { class: "actions" });
  if (!a.acknowledged_at && !a.shelved) {
    actions.append(
      el("button", { class: "primary", onclick: () => acknowledge(a) }, "确认"),
    );
  }
  if (a.shelved) {
    actions.append(el("button", { onclick: () => unshelve(a) }, "取消搁置"));
  } else {
    actions.append(el("button", { onclick: (e) => openShelve(e, a) }, "搁置"));
  }
  return el(
    "tr",
    {
      class: `sev-${a.severity}${a.shelved ? " shelved" : ""}${a.acknowledged_at ? " acked" : ""}`,
      dataset: { alarm: a.id },
    },
    el("td", {}, el("span", { class: `badge sev-${a.severity}` }, SEVERITY_ZH[a.severity] || a.severity)),
    el(
      "td",
      { class: "what" },
      el("strong", {}, state.assetNames[a.asset] || a.asset),
      " ",
      a.message || a.alarm_type,
      a.chattering ? el("span", { class: "tag" }, "频繁") : null,
      a.raise_count > 1 ? el("span", { class: "tag" }, `×${a.raise_count}`) : null,
    ),
    el("td", { class: "when" }, fmtTime(a.raised_at)),
    el("td", { class: "alarm-state" }, status),
    actions,
  );
}

async function acknowledge(a) {
  try {
    await api(`/api/v1/alarms/${a.id}/acknowledge`, { method: "POST" });
    toast(`已确认告警：${a.asset}`);
  } catch (err) {
    toast(`确认失败：${err.message}`, "error");
  }
  await loadAlarms();
}

async function unshelve(a) {
  try {
    await api(`/api/v1/alarms/${a.id}/unshelve`, { method: "POST" });
  } catch (err) {
    toast(`取消搁置失败：${err.message}`, "error");
  }
  await loadAlarms();
}

function openShelve(event, a) {
  const cell = event.target.closest("td");
  const reason = el("input", { class: "reason", placeholder: "搁置原因（必填）", maxlength: 300 });
  const buttons = SHELVE_HOURS.map((h) =>
    el(
      "button",
      {
        type: "button",
        dataset: { hours: h },
        onclick: async () => {
          if (!reason.value.trim()) {
            reason.focus();
            toast("请填写搁置原因", "error");
            return;
          }
          const until = new Date(Date.now() + h * 3600 * 1000).toISOString();
          try {
            await api(`/api/v1/alarms/${a.id}/shelve`, {
              method: "POST",
              json: { until, reason: reason.value.trim() },
            });
            toast(`已搁置 ${h} 小时：${a.asset}`);
          } catch (err) {
            toast(`搁置失败：${err.message}`, "error");
          }
          await loadAlarms();
        },
      },
      `${h}小时`,
    ),
  );
  cell.replaceChildren(el("div", { class: "shelve-form" }, reason, ...buttons));
  reason.focus();
}

// --- work orders --------------------------------------------------------------------------

async function loadOrders() {
  const statuses = OPEN.map((s) => `status=${s}`).join("&");
  const page = await api(
    `/api/v1/work-orders?site_id=${encodeURIComponent(state.site.id)}&${statuses}&limit=500`,
  );
  const orders = page.items.map((o) => ({ ...o, due: nextDue(o) }));
  orders.sort((a, b) => (a.due?.at ?? Infinity) - (b.due?.at ?? Infinity) || a.id - b.id);
  $("#order-count").textContent = `${orders.length} 张${page.next_cursor ? "+" : ""}`;
  const list = $("#order-list");
  if (!orders.length) {
    list.replaceChildren(el("p", { class: "ok-note" }, "没有未完成的工单"));
    return;
  }
  list.replaceChildren(
    el(
      "table",
      { class: "table orders" },
      el(
        "thead",
        {},
        el("tr", {}, ["工单", "事项", "优先级", "状态", "负责人", "时限"].map((t) => el("th", {}, t))),
      ),
      el("tbody", {}, orders.map(orderRow)),
    ),
  );
  tickCountdowns($("#order-list"));
}

function orderRow(o) {
  const due = o.due
    ? el("span", {
        class: "countdown",
        dataset: { due: o.due.at.toISOString(), label: `${LIMIT_ZH[o.due.key]}` },
      })
    : el("span", { class: "muted" }, o.status === "on_hold" ? "挂起（计时暂停）" : "—");
  return el(
    "tr",
    { dataset: { row: "", order: o.id }, class: `prio-${o.priority}` },
    el("td", { class: "code" }, o.code || `#${o.id}`),
    el(
      "td",
      { class: "what" },
      o.title,
      o.asset_name ? el("span", { class: "muted" }, ` · ${o.asset_name}`) : null,
    ),
    el("td", {}, el("span", { class: `badge prio-${o.priority}` }, o.priority_zh)),
    el("td", { class: "status" }, o.status_zh),
    el("td", {}, person(o.assignee)),
    el("td", { class: "due" }, due),
  );
}

// --- assets -------------------------------------------------------------------------------

function assetHealth(a) {
  const s = a.state || {};
  if (!a.state_at) return ["unknown", "无数据"];
  if (s.online === false) return ["offline", "离线"];
  if ((s.active_alarms || []).length) return ["alarm", "告警"];
  return ["ok", "正常"];
}

async function loadAssets() {
  const assets = await api(`/api/v1/assets?site_id=${encodeURIComponent(state.site.id)}`);
  state.assetNames = Object.fromEntries(assets.map((a) => [a.id, a.name]));
  const byZone = new Map();
  for (const a of assets.filter((x) => !x.retired)) {
    const zone = byZone.get(a.zone) || new Map();
    const building = a.building || "其他";
    zone.set(building, [...(zone.get(building) || []), a]);
    byZone.set(a.zone, zone);
  }
  const parts = [];
  for (const [zoneId, buildings] of [...byZone].sort()) {
    const rows = [...buildings].map(([building, list]) =>
      el(
        "div",
        { class: "building" },
        el("span", { class: "building-name" }, building),
        el(
          "span",
          { class: "chips" },
          list.map((a) => {
            const [cls, text] = assetHealth(a);
            return el(
              "span",
              { class: `chip ${cls}`, title: `${a.location || ""} · ${text}`, dataset: { asset: a.id } },
              a.name,
              el("small", {}, text),
            );
          }),
        ),
      ),
    );
    parts.push(el("div", { class: "zone" }, el("h3", {}, state.zones[zoneId] || zoneId), rows));
  }
  $("#asset-list").replaceChildren(...(parts.length ? parts : [el("p", { class: "muted" }, "没有设备")]));
}

// --- tonight's lighting -------------------------------------------------------------------

async function loadLighting() {
  const body = $("#lighting-body");
  let t;
  try {
    t = await api(`/api/v1/reports/${encodeURIComponent(state.site.id)}/lighting`);
  } catch (err) {
    body.replaceChildren(el("p", { class: "muted" }, `无法读取：${err.message}`));
    return;
  }
  if (!t.enabled) {
    body.replaceChildren(el("p", { class: "muted" }, "本小区未启用夜间照明巡查"));
    return;
  }
  const head = el(
    "p",
    { class: "lighting-head" },
    `${t.night.slice(5).replace("-", "月")}日 · 日落 ${fmtTime(t.sunset).slice(-5)} · 巡查 ${fmtTime(t.check_at).slice(-5)} · 日出 ${fmtTime(t.sunrise).slice(-5)}`,
    el("span", { class: `tag ${t.started ? "on" : ""}` }, t.started ? "已开始" : "未到时间"),
  );
  const patrols = t.patrols.length
    ? el(
        "ul",
        { class: "patrols" },
        t.patrols.map((p) =>
          el(
            "li",
            {},
            el("strong", {}, state.zones[p.zone] || p.zone || ""),
            ` ${p.code || ""} ${p.status_zh} · ${person(p.assignee)} · 已查 ${p.checked}/${p.total}`,
            p.failed ? el("span", { class: "tag bad" }, `${p.failed} 项不合格`) : null,
          ),
        ),
      )
    : el("p", { class: "muted" }, t.started ? "今晚尚无巡查工单" : "巡查工单将在巡查时间生成");
  const suspects = t.circuits.filter((c) => c.suspect);
  const dark = suspects.length
    ? el("ul", { class: "suspects" }, suspects.map((c) => el("li", { class: "bad" }, `${c.name}：${c.text}`)))
    : null;
  const circuits = el(
    "details",
    { class: "circuits" },
    el(
      "summary",
      {},
      `照明回路 ${t.circuits.length} 路${suspects.length ? `，${suspects.length} 路疑似不亮` : ""}`,
    ),
    el(
      "ul",
      {},
      t.circuits.map((c) =>
        el("li", { class: c.suspect ? "bad" : c.fresh ? "" : "muted" }, `${c.name}：${c.text}`),
      ),
    ),
  );
  const faults = t.faults.length
    ? el(
        "ul",
        { class: "faults" },
        t.faults.map((f) => el("li", { class: "bad" }, `${f.code || ""} ${f.title} · ${f.status_zh}`)),
      )
    : null;
  body.replaceChildren(...[head, patrols, faults, dark, circuits].filter(Boolean));
}

// --- stocktake ----------------------------------------------------------------------------

async function loadStocktake() {
  const s = await api(`/api/v1/reports/${encodeURIComponent(state.site.id)}/stocktake`);
  $("#stocktake-count").textContent = `共 ${s.total} 项未闭环，${s.overdue} 项超时`;
  if (!s.items.length) {
    $("#stocktake-body").replaceChildren(el("p", { class: "ok-note" }, "今日无未闭环事项"));
    return;
  }
  $("#stocktake-body").replaceChildren(
    el(
      "table",
      { class: "table stocktake" },
      el(
        "thead",
        {},
        el("tr", {}, ["工单", "事项", "状态", "责任人", "主管", "已用时", "超时"].map((t) => el("th", {}, t))),
      ),
      el(
        "tbody",
        {},
        s.items.slice(0, 50).map((i) =>
          el(
            "tr",
            { class: i.overdue.length ? "overdue" : "" },
            el("td", { class: "code" }, i.code || `#${i.id}`),
            el("td", { class: "what" }, i.title, i.on_hold ? el("span", { class: "tag" }, `挂起：${i.hold_reason || ""}`) : null),
            el("td", {}, i.status_zh),
            el("td", {}, person(i.responsible)),
            el("td", {}, person(i.supervisor)),
            el("td", {}, `${i.age_hours.toFixed(1)} 小时`),
            el("td", {}, i.overdue.length ? `${i.overdue.map((n) => LIMIT_ZH[`${n}_due`] || "回访").join("、")}超时` : "—"),
          ),
        ),
      ),
    ),
  );
}

// --- wiring -------------------------------------------------------------------------------

function guarded(load) {
  return load().catch((err) => {
    if (err.status !== 401) console.error(err);
  });
}

let pending = null;
function refreshSoon(parts) {
  // events come in bursts (an alarm and the order it opens); one refresh per burst
  pending = pending || new Set();
  for (const p of parts) pending.add(p);
  clearTimeout(refreshSoon.timer);
  refreshSoon.timer = setTimeout(() => {
    const todo = pending;
    pending = null;
    for (const load of todo) guarded(load);
  }, 250);
}

function onEvent(type) {
  if (type.startsWith("alarm.")) refreshSoon([loadAlarms, loadAssets]);
  else refreshSoon([loadOrders, loadAlarms, loadStocktake, loadLighting]);
}

async function main() {
  if (!takeToken()) {
    showLogin();
    return;
  }
  $("#logout").addEventListener("click", logout);
  try {
    const [me, sites] = await Promise.all([api("/api/v1/me"), api("/api/v1/sites")]);
    state.me = me;
    if (!sites.length) throw new Error("此令牌没有可查看的小区");
    const wanted = new URLSearchParams(location.search).get("site");
    state.site = sites.find((s) => s.id === wanted) || sites[0];
    state.people = Object.fromEntries(state.site.people.map((p) => [p.id, p.name]));
    state.zones = Object.fromEntries(state.site.zones.map((z) => [z.id, z.name]));
    $("#site-name").textContent = state.site.name;
    $("#who").textContent = me.person_name || me.name;
  } catch (err) {
    if (err.status !== 401) toast(`加载失败：${err.message}`, "error");
    return;
  }
  const stream = $("#stream-state");
  let loaded = false;
  listen(onEvent, (s) => {
    stream.textContent = s === "live" ? "实时" : "重连中";
    stream.className = `dot ${s}`;
    document.body.dataset.stream = s;
    if (s === "live" && !loaded) {
      loaded = true;
      [loadAlarms, loadOrders, loadAssets, loadLighting, loadStocktake].forEach(guarded);
    } else if (s === "live") {
      refreshSoon([loadAlarms, loadOrders, loadAssets, loadLighting, loadStocktake]);
    }
  });
  setInterval(() => {
    $("#clock").textContent = fmtClock(new Date());
    tickCountdowns($("#order-list"));
  }, 1000);
  $("#clock").textContent = fmtClock(new Date());
  // asset telemetry is not on the stream: refresh it, and the lighting circuits, each minute
  setInterval(() => refreshSoon([loadAssets, loadLighting]), 60000);
}

main();
