// 值班室: the alarm board (ISA-18.2 states, sound and title flash for an unacknowledged emergency)
// and its 告警历史, open work orders with their SLA countdown, assets by zone and building,
// tonight's lighting check and today's stocktake; refreshed from the event stream.
import { Annunciator } from "/static/annunciator.js";
import {
  $,
  ACTOR_ZH,
  ALARM_ACTION_ZH,
  api,
  el,
  fmtClock,
  fmtDay,
  fmtTime,
  ISA_STATE_ZH,
  LIMIT_ZH,
  listen,
  logout,
  nextDue,
  refuseToken,
  SEVERITY_ZH,
  showLogin,
  STATUS_ZH,
  takeToken,
  tickCountdowns,
  toast,
  useZone,
  zonedToIso,
} from "/static/common.js";
import { loadPatrolDay, patrolSection } from "/static/patrol_day.js";
import { drawerOrderId, openDrawer, reloadDrawer } from "/static/order_drawer.js";

const OPEN = ["registered", "dispatched", "accepted", "on_site", "on_hold", "reopened"];
const ORDER_STATUSES = [...OPEN, "resolved", "verified", "closed", "revisited", "cancelled"];
const TOKEN_ROLE_ZH = { duty: "值班员", admin: "管理员", integration: "工单系统" };
const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, warning: 3 };
const SHELVE_HOURS = [1, 4, 12, 24];

const state = {
  site: null,
  people: {},
  zones: {},
  me: null,
  assets: [],
  assetNames: {},
  alarms: [],
  alarmTypes: new Map(), // alarm_type -> a message of that type, as its name in the filter
  orderPriority: {}, // open work order id -> priority, to know an alarm's emergency order
  open: [], // every open work order of the site
  darkAssets: new Set(), // lighting assets with a circuit dark tonight
};

function person(id) {
  return id ? state.people[id] || id : "未指派";
}

// --- alarms -----------------------------------------------------------------------------
// The board is the API's attention list (everything not back to normal), ordered as the duty
// room works it: what waits for 确认 first, then what is acknowledged, then what is hidden.

const STATE_RANK = {
  unacknowledged: 0,
  returned_unacknowledged: 1,
  acknowledged: 2,
  shelved: 3,
  suppressed: 4,
  out_of_service: 5,
};
const ACKNOWLEDGEABLE = ["unacknowledged", "returned_unacknowledged"];

function assetName(item) {
  return item.asset_name || state.assetNames[item.asset] || item.asset;
}

function actorName(actor) {
  if (!actor) return "—";
  return ACTOR_ZH[actor] || state.people[actor] || actor;
}

async function loadAssetNames() {
  if (Object.keys(state.assetNames).length) return;
  const assets = await api(`/api/v1/assets?site_id=${encodeURIComponent(state.site.id)}`);
  rememberAssets(assets);
}

function rememberAssets(assets) {
  const changed = assets.map((a) => `${a.id}:${a.name}`).join() !== state.assets.map((a) => `${a.id}:${a.name}`).join();
  state.assets = assets;
  state.assetNames = Object.fromEntries(assets.map((a) => [a.id, a.name]));
  if (changed) fillHistoryFilters(); // not every minute: that would close a list being picked from
}

async function loadAlarms() {
  await loadAssetNames();
  const alarms = await api(
    `/api/v1/alarms?site_id=${encodeURIComponent(state.site.id)}&attention=true&limit=200`,
  );
  alarms.sort(
    (a, b) =>
      (STATE_RANK[a.isa_state] ?? 9) - (STATE_RANK[b.isa_state] ?? 9) ||
      (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
      b.raised_at.localeCompare(a.raised_at),
  );
  state.alarms = alarms;
  for (const a of alarms) learnType(a);
  annunciate();
  const count = (s) => alarms.filter((a) => a.isa_state === s).length;
  const hidden = count("shelved") + count("suppressed") + count("out_of_service");
  const active = count("unacknowledged") + count("acknowledged");
  const parts = [`${active} 条活动`];
  if (count("unacknowledged")) parts.push(`${count("unacknowledged")} 条未确认`);
  if (count("returned_unacknowledged")) parts.push(`${count("returned_unacknowledged")} 条已恢复未确认`);
  if (hidden) parts.push(`${hidden} 条已搁置、抑制或停用`);
  $("#alarm-count").textContent = parts.join("，");
  const list = $("#alarm-list");
  if (!alarms.length) {
    list.replaceChildren(el("p", { class: "ok-note" }, "当前没有告警"));
    return;
  }
  // a half-typed shelve or out-of-service reason survives the re-render (an incoming alarm)
  const forms = [...list.querySelectorAll(".shelve-form")].map((form) => [form.closest("[data-alarm]")?.dataset.alarm, form]);
  const focused = document.activeElement;
  list.replaceChildren(el("table", { class: "table alarms" }, el("tbody", {}, alarms.map(alarmRow))));
  for (const [id, form] of forms) {
    const cell = list.querySelector(`[data-alarm="${id}"] td.actions`);
    if (cell) cell.replaceChildren(form);
  }
  if (focused && list.contains(focused)) focused.focus();
}

function alarmRow(a) {
  const s = a.isa_state;
  const actions = el("td", { class: "actions" });
  if (ACKNOWLEDGEABLE.includes(s)) {
    actions.append(el("button", { class: "primary", onclick: () => acknowledge(a) }, "确认"));
  }
  if (s === "shelved") {
    actions.append(el("button", { onclick: () => unshelve(a) }, "取消搁置"));
  } else if (s === "unacknowledged" || s === "acknowledged") {
    actions.append(el("button", { onclick: (e) => openShelve(e, a) }, "搁置"));
  }
  if (a.work_order_id) {
    actions.append(
      el("button", { class: "order-link", "aria-label": `查看${assetName(a)}的工单`, onclick: () => showOrder(a.work_order_id) }, "工单"),
    );
  }
  if (s === "out_of_service") {
    actions.append(el("button", { onclick: () => returnToService(a) }, "恢复启用"));
  } else if (s !== "suppressed") {
    actions.append(el("button", { onclick: (e) => openOutOfService(e, a) }, "停用"));
  }
  const returned = a.cleared_at
    ? el(
        "span",
        { class: "tag returned", title: a.cleared_by === "reconciliation" ? "网关状态核对后判定已恢复" : "" },
        `已恢复 ${fmtTime(a.cleared_at).slice(-5)}${a.cleared_by === "reconciliation" ? "（核对）" : ""}`,
      )
    : null;
  const classes = [`sev-${a.severity}`, `isa-${s}`];
  if (s === "acknowledged") classes.push("acked");
  if (s === "shelved") classes.push("shelved");
  if (s === "suppressed" || s === "out_of_service") classes.push("greyed");
  if (alerting(a)) classes.push("alerting");
  return el(
    "tr",
    { class: classes.join(" "), dataset: { alarm: a.id, state: s } },
    el("td", { class: "sev" }, el("span", { class: `badge sev-${a.severity}` }, SEVERITY_ZH[a.severity] || a.severity)),
    el(
      "td",
      { class: "what" },
      el("strong", {}, assetName(a)),
      " ",
      el("span", { class: "msg" }, a.message || a.alarm_type),
      returned,
      a.stale ? el("span", { class: "tag stale", title: "设备离线，无法确认告警是否仍然存在" }, "状态未知（设备离线）") : null,
      a.late ? el("span", { class: "tag late", title: "告警送达时间远晚于发生时间：已记录，不再通知" }, "迟到") : null,
      a.chattering ? el("span", { class: "tag" }, "频繁") : null,
      a.raise_count > 1 ? el("span", { class: "tag" }, `×${a.raise_count}`) : null,
    ),
    el("td", { class: "when" }, fmtTime(a.raised_at)),
    el(
      "td",
      { class: "alarm-state" },
      el("span", { class: `state-chip isa-${s}` }, ISA_STATE_ZH[s] || s),
      " ",
      stateDetail(a),
    ),
    actions,
  );
}

// The chip says the state; this says who, until when, or why.
function stateDetail(a) {
  const text = {
    acknowledged: () => `${actorName(a.acknowledged_by)} ${fmtTime(a.acknowledged_at)}`,
    shelved: () => `至 ${fmtTime(a.shelved_until)}（${a.shelve_reason || ""}）`,
    suppressed: () => a.suppressed_reason || "",
    out_of_service: () => a.out_of_service_reason || "",
  }[a.isa_state]?.();
  return text ? el("span", { class: "state-detail" }, text) : null;
}

async function acknowledge(a) {
  try {
    await api(`/api/v1/alarms/${a.id}/acknowledge`, { method: "POST" });
    toast(`已确认告警：${assetName(a)}`);
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
            toast(`已搁置 ${h} 小时：${assetName(a)}`);
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

// 停用: a known fault (a sensor under repair) the duty room stops watching until it is put back.
function openOutOfService(event, a) {
  const cell = event.target.closest("td");
  const reason = el("input", { class: "reason", placeholder: "停用原因（必填）", maxlength: 300 });
  const confirm = el(
    "button",
    {
      type: "button",
      class: "primary",
      onclick: async () => {
        if (!reason.value.trim()) {
          reason.focus();
          toast("请填写停用原因", "error");
          return;
        }
        try {
          await api(`/api/v1/alarms/${a.id}/out-of-service`, {
            method: "POST",
            json: { reason: reason.value.trim() },
          });
          toast(`已停用告警：${assetName(a)}`);
        } catch (err) {
          toast(`停用失败：${err.message}`, "error");
        }
        await loadAlarms();
      },
    },
    "确认停用",
  );
  cell.replaceChildren(el("div", { class: "shelve-form" }, reason, confirm));
  reason.focus();
}

async function returnToService(a) {
  try {
    await api(`/api/v1/alarms/${a.id}/return-to-service`, { method: "POST" });
    toast(`已恢复启用：${assetName(a)}`);
  } catch (err) {
    toast(`恢复启用失败：${err.message}`, "error");
  }
  await loadAlarms();
}

// --- 声光告警 -----------------------------------------------------------------------------
// Sounded for an active, unacknowledged alarm that is critical or has opened an emergency work
// order. Not for one that has returned (ISA-18.2 silences a return to normal), nor a late one
// (recorded, pages nobody), nor a shelved, suppressed or out-of-service one.

const annunciator = new Annunciator(renderAlert);

function alerting(a) {
  if (a.isa_state !== "unacknowledged" || a.late) return false;
  return a.severity === "critical" || state.orderPriority[a.work_order_id] === "emergency";
}

function annunciate() {
  annunciator.update(
    state.alarms.filter(alerting).map((a) => ({
      id: a.id,
      title: `${assetName(a)} ${a.message || a.alarm_type}`,
      body: `${SEVERITY_ZH[a.severity] || a.severity} · ${fmtTime(a.raised_at)} · 请到值班室确认`,
    })),
  );
  for (const row of document.querySelectorAll("#alarm-list [data-alarm]")) {
    const a = state.alarms.find((x) => String(x.id) === row.dataset.alarm);
    row.classList.toggle("alerting", Boolean(a && alerting(a)));
  }
}

function renderAlert() {
  const mute = $("#mute");
  mute.textContent = annunciator.muted ? "取消静音" : "静音";
  mute.setAttribute("aria-pressed", String(annunciator.muted));
  mute.classList.toggle("on", annunciator.muted);
  const permission = annunciator.permission;
  $("#notify-ask").hidden = permission !== "default";
  const note = $("#notify-note");
  const noteText =
    annunciator.notifyError !== null
      ? `桌面通知不可用：${annunciator.notifyError}`
      : permission === "denied"
        ? "桌面通知已被浏览器禁止"
        : permission === "granted"
          ? "桌面通知已开启"
          : "";
  note.textContent = noteText;
  note.hidden = !noteText;
  const banner = $("#alert-banner");
  banner.hidden = !annunciator.active;
  if (annunciator.active) {
    const names = [...annunciator.alarms.values()].map((a) => a.title);
    $("#alert-text").textContent = `紧急告警 ${names.length} 条未确认：${names.slice(0, 3).join("；")}${
      names.length > 3 ? " …" : ""
    }${annunciator.muted ? "（已静音）" : ""}`;
  }
  $("#sound-enable").hidden = !annunciator.soundBlocked;
}

// --- 告警历史 -----------------------------------------------------------------------------

const HISTORY_PAGE = 50;
const journal = { cursor: null, pages: 0, seq: 0 };

function learnType(item) {
  if (!state.alarmTypes.has(item.alarm_type)) {
    state.alarmTypes.set(item.alarm_type, item.message || item.alarm_type);
    fillTypeOptions();
  }
}

function fillTypeOptions() {
  const select = $("#history-filters select[name=alarm_type]");
  const chosen = select.value;
  select.replaceChildren(
    el("option", { value: "" }, "全部类型"),
    ...[...state.alarmTypes]
      .sort((a, b) => a[1].localeCompare(b[1], "zh-CN"))
      .map(([type, label]) => el("option", { value: type, title: type }, label)),
  );
  select.value = chosen;
}

function fillHistoryFilters() {
  const form = $("#history-filters");
  const byZone = new Map();
  for (const a of state.assets) {
    byZone.set(a.zone, [...(byZone.get(a.zone) || []), a]);
  }
  const [asset, chosen] = [form.elements.asset.value, form.elements.state.value];
  form.elements.asset.replaceChildren(
    el("option", { value: "" }, "全部设备"),
    ...[...byZone].map(([zone, list]) =>
      el(
        "optgroup",
        { label: state.zones[zone] || zone || "其他" },
        list.map((a) => el("option", { value: a.id }, a.name)),
      ),
    ),
  );
  form.elements.state.replaceChildren(
    el("option", { value: "" }, "全部状态"),
    ...Object.entries(ISA_STATE_ZH).map(([value, text]) => el("option", { value }, text)),
  );
  form.elements.asset.value = asset;
  form.elements.state.value = chosen;
  fillTypeOptions();
}

function historyQuery() {
  const form = $("#history-filters");
  const q = new URLSearchParams({ site_id: state.site.id, limit: String(HISTORY_PAGE) });
  for (const name of ["asset", "alarm_type", "state"]) {
    if (form.elements[name].value) q.set(name, form.elements[name].value);
  }
  for (const name of ["since", "until"]) {
    if (form.elements[name].value) q.set(name, zonedToIso(form.elements[name].value));
  }
  return q;
}

// Each load supersedes the one before it: a 查询 pressed while the stream's reload is under way
// must win, whichever answer comes back first.
async function loadHistory(more = false) {
  if (!state.site) return; // the tab opened before the site is known: loaded once it is
  const mine = ++journal.seq;
  const q = historyQuery();
  if (more && journal.cursor) q.set("cursor", journal.cursor);
  const box = $("#history-list");
  box.setAttribute("aria-busy", "true");
  try {
    const page = await api(`/api/v1/alarms/history?${q}`);
    if (mine !== journal.seq) return;
    for (const item of page.items) learnType(item);
    const rows = page.items.map(historyRow);
    if (more && box.querySelector("tbody")) {
      box.querySelector("tbody").append(...rows);
      journal.pages += 1;
    } else if (!rows.length) {
      box.replaceChildren(el("p", { class: "muted" }, "没有符合条件的告警记录"));
      journal.pages = 1;
    } else {
      box.replaceChildren(
        el(
          "table",
          { class: "table history" },
          el(
            "thead",
            {},
            el("tr", {}, ["时间", "设备", "告警", "动作", "状态", "操作人", "备注"].map((t) => el("th", {}, t))),
          ),
          el("tbody", {}, rows),
        ),
      );
      journal.pages = 1;
    }
    journal.cursor = page.next_cursor;
    $("#history-more").hidden = !page.next_cursor;
  } catch (err) {
    if (mine === journal.seq && err.status !== 401) {
      box.replaceChildren(el("p", { class: "error" }, `无法读取告警历史：${err.message}`));
    }
  } finally {
    if (mine === journal.seq) box.removeAttribute("aria-busy");
  }
}

function historyRow(item) {
  return el(
    "tr",
    { class: `act-${item.action} sev-${item.severity}`, dataset: { entry: item.id, action: item.action } },
    el("td", { class: "when" }, fmtTime(item.at)),
    el("td", {}, assetName(item)),
    el(
      "td",
      { class: "what" },
      el("span", { class: `badge sev-${item.severity}` }, SEVERITY_ZH[item.severity] || item.severity),
      " ",
      item.message || item.alarm_type,
    ),
    el("td", { class: "action" }, ALARM_ACTION_ZH[item.action] || item.action),
    el("td", {}, el("span", { class: `state-chip isa-${item.state}` }, ISA_STATE_ZH[item.state] || item.state)),
    el("td", {}, actorName(item.actor)),
    el("td", { class: "note" }, item.note || ""),
  );
}

function showTab(name) {
  const board = name === "board";
  $("#tab-board").setAttribute("aria-selected", String(board));
  $("#tab-history").setAttribute("aria-selected", String(!board));
  $("#alarm-list").hidden = !board;
  $("#alarm-history").hidden = board;
  if (!board && journal.pages === 0) guarded(() => loadHistory());
}

// While the first page of the history is on screen it follows the stream; once 更多 has been
// pressed it stays put, so the rows being read do not move.
async function refreshHistory() {
  if (!$("#alarm-history").hidden && journal.pages <= 1) await loadHistory();
}

function wireAlarmPanel() {
  $("#tab-board").addEventListener("click", () => showTab("board"));
  $("#tab-history").addEventListener("click", () => showTab("history"));
  $("#mute").addEventListener("click", () => annunciator.setMuted(!annunciator.muted));
  $("#notify-ask").addEventListener("click", () => annunciator.askPermission());
  $("#sound-enable").addEventListener("click", () => annunciator.enableSound());
  const form = $("#history-filters");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    journal.cursor = null;
    guarded(() => loadHistory());
  });
  form.addEventListener("reset", () => {
    journal.cursor = null;
    setTimeout(() => guarded(() => loadHistory()));
  });
  $("#history-more").addEventListener("click", () => guarded(() => loadHistory(true)));
  fillHistoryFilters();
  renderAlert();
}

// --- work orders --------------------------------------------------------------------------
// The open orders (every one, for the chips, the chime and the alarm links) and the list as
// filtered: status, priority, zone, building, assignee, category, source, the date reported and
// the words of `q`, all kept in the address so that a reload or a link opens the same list.

const FILTERS = ["q", "status", "priority", "zone", "building", "assignee", "category", "source", "from", "to"];
const ORDER_PAGE = 100;
const orderList = { cursor: null, seq: 0 };

function filterValues() {
  const q = new URLSearchParams(location.search);
  return Object.fromEntries(FILTERS.map((name) => [name, q.get(name) || ""]));
}

function filtered(values = filterValues()) {
  return FILTERS.some((name) => values[name]);
}

function writeFilters(values) {
  const q = new URLSearchParams(location.search);
  for (const name of FILTERS) {
    if (values[name]) q.set(name, values[name]);
    else q.delete(name);
  }
  const search = q.toString();
  history.replaceState(null, "", `${location.pathname}${search ? `?${search}` : ""}`);
}

function fillOrderFilters() {
  const form = $("#order-filters");
  const keep = filterValues();
  const status = form.elements.status;
  status.replaceChildren(
    el("option", { value: "" }, "未完成"),
    el("option", { value: "all" }, "全部状态"),
    ...Object.entries(STATUS_ZH)
      .filter(([value]) => ORDER_STATUSES.includes(value))
      .map(([value, text]) => el("option", { value }, text)),
  );
  form.elements.zone.replaceChildren(
    el("option", { value: "" }, "全部片区"),
    ...Object.entries(state.zones).map(([id, name]) => el("option", { value: id }, name)),
  );
  const buildings = [...new Set(state.site.zones.flatMap((z) => z.buildings || []))];
  form.elements.building.replaceChildren(
    el("option", { value: "" }, "全部楼栋"),
    ...buildings.map((b) => el("option", { value: b }, b)),
  );
  form.elements.assignee.replaceChildren(
    el("option", { value: "" }, "全部人员"),
    ...state.site.people
      .filter((p) => p.role === "technician")
      .map((p) => el("option", { value: p.id }, p.name)),
  );
  for (const name of FILTERS) form.elements[name].value = keep[name];
}

function orderQuery(values) {
  const q = new URLSearchParams({ site_id: state.site.id, limit: String(ORDER_PAGE) });
  if (!values.status) for (const s of OPEN) q.append("status", s);
  else if (values.status !== "all") q.set("status", values.status);
  for (const name of ["q", "priority", "zone", "building", "assignee", "category", "source"]) {
    if (values[name]) q.set(name, values[name]);
  }
  if (values.from) q.set("reported_from", zonedToIso(`${values.from}T00:00`));
  if (values.to) q.set("reported_to", zonedToIso(`${nextDay(values.to)}T00:00`));
  return q;
}

function nextDay(day) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

// Every open order of the site: the asset chips, the chime (an alarm's emergency order) and the
// alarm board's links to orders follow them, whatever the list below is filtered to.
async function loadOpenOrders() {
  const statuses = OPEN.map((s) => `status=${s}`).join("&");
  const page = await api(
    `/api/v1/work-orders?site_id=${encodeURIComponent(state.site.id)}&${statuses}&limit=500`,
  );
  const before = state.open.map((o) => `${o.id}:${o.asset}`).join();
  state.open = page.items.map((o) => ({ ...o, due: nextDue(o) }));
  if (state.open.map((o) => `${o.id}:${o.asset}`).join() !== before) refreshSoon([loadAssets]);
  state.orderPriority = Object.fromEntries(state.open.map((o) => [o.id, o.priority]));
  annunciate();
  return page;
}

async function loadOrders(more = false) {
  const mine = ++orderList.seq;
  const values = filterValues();
  await loadAssetNames();
  const open = await loadOpenOrders();
  let items;
  let next = null;
  if (filtered(values) || more) {
    const q = orderQuery(values);
    if (more && orderList.cursor) q.set("cursor", orderList.cursor);
    const page = await api(`/api/v1/work-orders?${q}`);
    items = page.items.map((o) => ({ ...o, due: nextDue(o) }));
    next = page.next_cursor;
  } else {
    items = state.open;
    next = open.next_cursor;
  }
  if (mine !== orderList.seq) return;
  if (!values.status) {
    items.sort((a, b) => (a.due?.at ?? Infinity) - (b.due?.at ?? Infinity) || a.id - b.id);
  }
  $("#orders-title").textContent = values.status
    ? values.status === "all"
      ? "工单"
      : `${STATUS_ZH[values.status] || values.status}工单`
    : "未完成工单";
  $("#orders-hint").textContent = filtered(values) ? "已筛选，点击查看详情" : "按时限排序，点击查看详情";
  const list = $("#order-list");
  const tbody = list.querySelector("tbody");
  if (more && tbody) {
    tbody.append(...items.map(orderRow));
  } else if (!items.length) {
    list.replaceChildren(
      el("p", { class: filtered(values) ? "muted" : "ok-note" }, filtered(values) ? "没有符合条件的工单" : "没有未完成的工单"),
    );
  } else {
    list.replaceChildren(
      el(
        "table",
        { class: "table orders" },
        el(
          "thead",
          {},
          el("tr", {}, ["工单", "事项", "优先级", "状态", "负责人", "时限"].map((t) => el("th", {}, t))),
        ),
        el("tbody", {}, items.map(orderRow)),
      ),
    );
  }
  const shown = list.querySelectorAll("[data-order]").length;
  $("#order-count").textContent = `${shown} 张${next ? "+" : ""}`;
  orderList.cursor = next;
  $("#order-more").hidden = !(next && (filtered(values) || more));
  tickCountdowns(list);
}

function orderRow(o) {
  const due = o.due
    ? el("span", {
        class: "countdown",
        dataset: { due: o.due.at.toISOString(), label: `${LIMIT_ZH[o.due.key]}` },
      })
    : el(
        "span",
        { class: "muted" },
        o.status === "on_hold" ? "挂起（计时暂停）" : OPEN.includes(o.status) ? "—" : fmtTime(o.reported_at),
      );
  const open = () => showOrder(o.id);
  return el(
    "tr",
    { dataset: { row: "", order: o.id }, class: `prio-${o.priority} clickable`, onclick: open },
    el(
      "td",
      { class: "code" },
      el("button", { type: "button", class: "link order-open", "aria-label": `查看工单 ${o.code || o.id} ${o.title}` }, o.code || `#${o.id}`),
    ),
    el(
      "td",
      { class: "what" },
      o.title,
      o.asset_name ? el("span", { class: "muted" }, ` · ${o.asset_name}`) : null,
    ),
    el("td", { class: "prio" }, el("span", { class: `badge prio-${o.priority}` }, o.priority_zh)),
    el("td", { class: "status" }, o.status_zh),
    el("td", { class: "who" }, person(o.assignee)),
    el("td", { class: "due" }, due),
  );
}

function showOrder(id) {
  openDrawer(id, {
    people: state.people,
    zones: state.zones,
    technicians: Object.fromEntries(
      state.site.people.filter((p) => p.role === "technician").map((p) => [p.id, p.name]),
    ),
    me: state.me,
    onChanged: () => refreshSoon([loadOrders, loadAlarms, loadAssets, loadStocktake]),
  });
}

function wireOrderPanel() {
  fillOrderFilters();
  const form = $("#order-filters");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const values = Object.fromEntries(FILTERS.map((name) => [name, form.elements[name].value.trim()]));
    writeFilters(values);
    orderList.cursor = null;
    guarded(() => loadOrders());
  });
  form.addEventListener("reset", () => {
    writeFilters({});
    orderList.cursor = null;
    setTimeout(() => guarded(() => loadOrders()));
  });
  $("#order-more").addEventListener("click", () => guarded(() => loadOrders(true)));
  wireExport();
}

// 导出: the list as filtered in the address (every page of it, newest first), as CSV or Excel.
// The file is fetched with the token and saved from a blob: a plain link would carry no token.
function wireExport() {
  const slot = $("#order-export");
  const button = (fmt, label) =>
    el("button", { type: "button", dataset: { export: fmt }, onclick: () => guarded(() => exportOrders(fmt)) }, label);
  slot.replaceChildren(button("csv", "导出 CSV"), button("xlsx", "导出 Excel"));
}

async function exportOrders(fmt) {
  const q = orderQuery(filterValues());
  q.delete("limit");
  q.set("format", fmt);
  const buttons = [...document.querySelectorAll("#order-export button")];
  for (const b of buttons) b.disabled = true;
  try {
    const blob = await api(`/api/v1/work-orders/export?${q}`);
    const day = new Intl.DateTimeFormat("sv-SE", { timeZone: state.site.timezone || "Asia/Shanghai" }).format(new Date());
    const link = el("a", { href: URL.createObjectURL(blob), download: `工单列表_${day}.${fmt}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    toast(`已导出${fmt === "csv" ? " CSV" : " Excel"}`);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

// --- assets -------------------------------------------------------------------------------

// The chip agrees with the alarms, tonight's lighting check and the open orders: a circuit dark
// with its order open is not 正常.
function assetHealth(a, orders) {
  const s = a.state || {};
  if (a.out_of_service) return ["offline", "停用"];
  if (!a.state_at) return ["unknown", "无数据"];
  if (s.online === false) return ["offline", "离线"];
  if ((s.active_alarms || []).length) return ["alarm", "告警"];
  if (state.darkAssets.has(a.id)) return ["alarm", "疑似不亮"];
  if (orders.length) return ["work", "维修中"];
  return ["ok", "正常"];
}

// 设备详情: the asset's live values, trend, alarms and orders.
function deviceUrl(assetId) {
  return `/device?${new URLSearchParams({ site: state.site.id, asset: assetId })}`;
}

function ordersOf(assetId) {
  return state.open.filter((o) => o.asset === assetId);
}

async function loadAssets() {
  const assets = await api(`/api/v1/assets?site_id=${encodeURIComponent(state.site.id)}`);
  rememberAssets(assets);
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
            const orders = ordersOf(a.id).sort((x, y) => (x.due?.at ?? Infinity) - (y.due?.at ?? Infinity));
            const [cls, text] = assetHealth(a, orders);
            const title = `${a.location || ""} · ${text}${orders.length ? ` · ${orders.length} 张未完成工单` : ""}`;
            const content = [a.name, el("small", {}, text), orders.length ? el("span", { class: "chip-count" }, `${orders.length}单`) : null];
            return orders.length
              ? el(
                  "button",
                  {
                    type: "button",
                    class: `chip ${cls}`,
                    title,
                    dataset: { asset: a.id, order: orders[0].id },
                    onclick: () => showOrder(orders[0].id),
                  },
                  content,
                )
              : el(
                  "a",
                  { class: `chip ${cls}`, title, href: deviceUrl(a.id), dataset: { asset: a.id } },
                  content,
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
    `${fmtDay(t.night)} · 日落 ${fmtTime(t.sunset).slice(-5)} · 巡查 ${fmtTime(t.check_at).slice(-5)} · 日出 ${fmtTime(t.sunrise).slice(-5)}`,
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
  const dark = new Set(suspects.map((c) => c.key.split("#")[0]));
  if ([...dark].join() !== [...state.darkAssets].join()) {
    state.darkAssets = dark;
    refreshSoon([loadAssets]); // the chips follow the circuits
  }
  const darkList = suspects.length
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
        t.faults.map((f) =>
          el(
            "li",
            { class: "bad" },
            el(
              "button",
              { type: "button", class: "link", dataset: { order: f.work_order_id }, onclick: () => showOrder(f.work_order_id) },
              `${f.code || ""} ${f.title}`,
            ),
            ` · ${f.status_zh} · ${person(f.assignee)}`,
          ),
        ),
      )
    : null;
  body.replaceChildren(...[head, patrols, faults, darkList, circuits].filter(Boolean));
}

// --- stocktake ----------------------------------------------------------------------------

async function loadStocktake() {
  const [s, patrol] = await Promise.all([
    api(`/api/v1/reports/${encodeURIComponent(state.site.id)}/stocktake`),
    loadPatrolDay(state.site.id).catch(() => null),
  ]);
  $("#stocktake-count").textContent = `共 ${s.total} 项未闭环，${s.overdue} 项超时`;
  const patrols = patrol && patrol.due ? patrolSection(patrol) : "";
  if (!s.items.length) {
    $("#stocktake-body").replaceChildren(el("p", { class: "ok-note" }, "今日无未闭环事项"), patrols);
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
            { class: `clickable ${i.overdue.length ? "overdue" : ""}`, dataset: { order: i.id }, onclick: () => showOrder(i.id) },
            el(
              "td",
              { class: "code" },
              el("button", { type: "button", class: "link order-open", "aria-label": `查看工单 ${i.code || i.id} ${i.title}` }, i.code || `#${i.id}`),
            ),
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
    patrols,
  );
}

// --- 切换项目 ----------------------------------------------------------------------------
// The site is in the address (`?site=`), so a link or a reload opens the same one; picking
// another loads the duty room of that site, panels and event stream included.

function siteUrl(siteId) {
  const q = new URLSearchParams(location.search);
  q.set("site", siteId);
  return `${location.pathname}?${q}`;
}

function showSwitcher(sites, wanted) {
  if (wanted !== state.site.id) history.replaceState(null, "", siteUrl(state.site.id));
  const select = $("#site-switch");
  select.replaceChildren(
    ...[...sites]
      .sort((a, b) => a.name.localeCompare(b.name, "zh-CN"))
      .map((s) => el("option", { value: s.id, selected: s.id === state.site.id }, s.name)),
  );
  select.value = state.site.id;
  select.addEventListener("change", () => location.assign(siteUrl(select.value)));
  $("#site-switch-wrap").hidden = false;
  $("#overview-link").hidden = false;
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

// alarm.raised / alarm.cleared (and any other alarm.* topic) refresh the board and the history;
// a work-order event may be an alarm's order changing priority, so the board follows those too.
// A token of several sites hears every site's events; another site's change leaves this one be.
function onEvent(type, data) {
  if (data && data.site_id && data.site_id !== state.site.id) return;
  if (type.startsWith("alarm.")) refreshSoon([loadAlarms, loadAssets, refreshHistory]);
  else refreshSoon([loadOrders, loadAlarms, loadAssets, loadStocktake, loadLighting]);
  // the open drawer follows its order (the event's `work_order_id`; its `id` is the event's own);
  // what is being typed into it stays
  if (drawerOrderId() !== null && (!data || data.work_order_id === undefined || data.work_order_id === drawerOrderId())) {
    refreshSoon([reloadDrawer]);
  }
}

async function main() {
  if (!takeToken("duty")) {
    showLogin();
    return;
  }
  $("#logout").addEventListener("click", logout);
  wireAlarmPanel();
  try {
    const [me, sites] = await Promise.all([api("/api/v1/me"), api("/api/v1/sites")]);
    if (me.role === "technician") {
      refuseToken(`这是维修人员${me.person_name ? ` ${me.person_name} ` : ""}的令牌，请在「我的任务」页面使用；值班室需要值班员的令牌`);
      return;
    }
    state.me = me;
    if (!sites.length) throw new Error("此令牌没有可查看的小区");
    const wanted = new URLSearchParams(location.search).get("site");
    state.site = sites.find((s) => s.id === wanted) || sites[0];
    state.people = Object.fromEntries(state.site.people.map((p) => [p.id, p.name]));
    state.zones = Object.fromEntries(state.site.zones.map((z) => [z.id, z.name]));
    useZone(state.site.timezone);
    $("#site-name").textContent = state.site.name;
    if (sites.length > 1) showSwitcher(sites, wanted);
    $("#who").textContent = me.person_name || TOKEN_ROLE_ZH[me.role] || me.name;
    $("#who").title = `令牌：${me.name}`;
    wireOrderPanel();
    if (!$("#alarm-history").hidden && journal.pages === 0) guarded(() => loadHistory());
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
      refreshSoon([loadAlarms, loadOrders, loadAssets, loadLighting, loadStocktake, refreshHistory]);
    }
  });
  setInterval(() => {
    $("#clock").textContent = fmtClock(new Date());
    tickCountdowns($("#order-list"));
    if ($("#drawer")) tickCountdowns($("#drawer"));
  }, 1000);
  $("#clock").textContent = fmtClock(new Date());
  // asset telemetry is not on the stream: refresh it, and the lighting circuits, each minute
  setInterval(() => refreshSoon([loadAssets, loadLighting]), 60000);
  // a shelved alarm comes back when its time passes, and an acknowledgement made on another
  // screen is not on the stream: without this the chime here would go on
  setInterval(() => refreshSoon([loadAlarms]), 15000);
}

main();
