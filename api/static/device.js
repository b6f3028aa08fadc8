// 设备详情: one asset — its live values with zh-CN names and units, a state chip that agrees with
// its open alarms, a trend of any of its points over 1 h / 24 h / 7 d / 30 d (uPlot, served from
// /static/vendor), its alarms and their history, its work orders, plans and record (设备档案),
// and its commands (遥控): who sent what and when, with the result and read-back; duty and admin
// tokens get a control per writable point (switch a circuit, set a value), confirmed first.
// Opened as /device?site=hexie&asset=pump-1, from the duty room or a link.
import {
  $,
  ALARM_ACTION_ZH,
  ACTOR_ZH,
  api,
  el,
  fmtTime,
  ISA_STATE_ZH,
  listen,
  logout,
  SEVERITY_ZH,
  showLogin,
  STATUS_ZH,
  takeToken,
  toast,
  useZone,
} from "/static/common.js";

const RANGES = {
  "1h": { ms: 3600e3, zh: "1小时" },
  "24h": { ms: 86400e3, zh: "24小时" },
  "7d": { ms: 7 * 86400e3, zh: "7天" },
  "30d": { ms: 30 * 86400e3, zh: "30天" },
};
const OPEN_STATUSES = ["registered", "dispatched", "accepted", "on_site", "on_hold", "reopened"];
const UNIT_ZH = { degC: "℃", floor: "层" };

const state = {
  site: null,
  asset: null, // the API's asset: live state
  record: null, // 设备档案: points with labels and units
  points: {},
  people: {},
  alarms: [],
  orders: [],
  range: "24h",
  point: null,
  chart: null,
  trendSeq: 0,
  role: null,
  sending: false,
};
const COMMAND_ROLES = ["duty", "admin"];

const params = new URLSearchParams(location.search);
const SITE = params.get("site");
const ASSET = params.get("asset");

function unitOf(unit) {
  return UNIT_ZH[unit] ?? unit ?? "";
}

// 0.047, 12.5, 3 — at most three decimals, no trailing zeros; booleans as 是 / 否
function fmtValue(value, unit = "") {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "是" : "否";
  if (typeof value === "number") {
    const text = Number.isInteger(value) ? String(value) : String(+value.toFixed(3));
    const u = unitOf(unit);
    return u ? `${text} ${u}` : text;
  }
  return String(value);
}

// "2027年6月1日" of a calendar date
function fmtDate(isoDate) {
  if (!isoDate) return "—";
  const [y, m, d] = isoDate.slice(0, 10).split("-");
  return `${+y}年${+m}月${+d}日`;
}

function personName(id) {
  return id ? state.people[id] || id : "未指派";
}

// --- state chip ------------------------------------------------------------------------------

// The chip follows the open alarms of the asset (the alarm list is the truth), then the device's
// own state: 停用 > 告警 > 离线 > 维修中 > 无数据 > 正常.
function health() {
  const a = state.asset;
  const s = a.state || {};
  if (a.out_of_service) return ["offline", "停用"];
  if (state.alarms.length) return ["alarm", `告警 ${state.alarms.length}`];
  if (s.online === false) return ["offline", "离线"];
  if (state.orders.some((o) => OPEN_STATUSES.includes(o.status))) return ["work", "维修中"];
  if (!a.state_at) return ["unknown", "无数据"];
  return ["ok", "正常"];
}

function renderChip() {
  if (!state.asset) return;
  const [cls, text] = health();
  const chip = $("#state-chip");
  chip.className = `chip ${cls}`;
  chip.textContent = text;
  chip.dataset.state = cls;
}

// --- live values -----------------------------------------------------------------------------

async function loadLive() {
  state.asset = await api(`/api/v1/assets/${encodeURIComponent(SITE)}/${encodeURIComponent(ASSET)}`);
  const values = (state.asset.state || {}).values || {};
  const names = [...Object.keys(state.points), ...Object.keys(values).filter((k) => !state.points[k])];
  const shown = names.filter((n) => n in values);
  $("#state-at").textContent = state.asset.state_at ? `更新于 ${fmtTime(state.asset.state_at)}` : "";
  $("#live-body").replaceChildren(
    shown.length
      ? el(
          "dl",
          { class: "values" },
          shown.map((name) => {
            const p = state.points[name] || { label: name, unit: "" };
            return el(
              "div",
              { dataset: { point: name } },
              el("dt", {}, p.label),
              el("dd", {}, fmtValue(values[name], p.unit)),
            );
          }),
        )
      : el("p", { class: "muted" }, "暂无实时数据（网关尚未上报）"),
  );
  renderChip();
  renderControls();
}

// --- commands (遥控) ---------------------------------------------------------------------------

const COMMANDS = () => `/api/v1/assets/${encodeURIComponent(SITE)}/${encodeURIComponent(ASSET)}/commands`;

function writablePoints() {
  return ((state.record && state.record.points) || []).filter((p) => p.writable);
}

function valueText(p, value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean" || (p && p.switch && (value === 0 || value === 1))) return value ? "开" : "关";
  return fmtValue(value, p ? p.unit : "");
}

function renderControls() {
  const points = writablePoints();
  $("#commands").hidden = points.length === 0;
  if (!points.length) return;
  const box = $("#command-controls");
  if (!COMMAND_ROLES.includes(state.role)) {
    box.replaceChildren(el("p", { class: "muted small" }, "仅值班员或管理员可遥控；这里列出遥控记录。"));
    return;
  }
  if (box.querySelector("input:focus")) return; // keep what is being typed
  const values = ((state.asset && state.asset.state) || {}).values || {};
  box.replaceChildren(el("ul", { class: "controls" }, points.map((p) => controlOf(p, values[p.name]))));
}

function controlOf(p, now) {
  const current = el("span", { class: "muted small current" }, now === undefined ? "" : `当前 ${valueText(p, now)}`);
  if (p.switch) {
    return el(
      "li",
      { dataset: { point: p.name } },
      el("span", { class: "label" }, p.label),
      current,
      el("button", { type: "button", "data-value": "true", onclick: () => ask(p, true) }, "开"),
      el("button", { type: "button", "data-value": "false", onclick: () => ask(p, false) }, "关"),
    );
  }
  const unit = unitOf(p.unit);
  const limits = p.allowed
    ? `可选 ${p.allowed.map((v) => valueText(p, v)).join("、")}`
    : [p.min, p.max].some((v) => v !== null && v !== undefined)
      ? `范围 ${p.min ?? "—"}–${p.max ?? "—"}${unit}`
      : "";
  const input = el("input", {
    type: "number",
    step: "any",
    min: p.min ?? undefined,
    max: p.max ?? undefined,
    inputmode: "decimal",
    "aria-label": `${p.label}设定值`,
  });
  return el(
    "li",
    { dataset: { point: p.name } },
    el("span", { class: "label" }, p.label),
    current,
    input,
    el(
      "button",
      {
        type: "button",
        onclick: () => {
          if (input.value.trim() === "" || !Number.isFinite(Number(input.value))) {
            showResult(`请先填写「${p.label}」的设定值`, "refused");
            return;
          }
          ask(p, Number(input.value));
        },
      },
      "设定",
    ),
    limits ? el("span", { class: "muted small" }, limits) : null,
  );
}

function showResult(text, outcome) {
  const result = $("#command-result");
  result.textContent = text;
  result.dataset.state = outcome || "";
}

function ask(p, value) {
  if (state.sending) return;
  const box = $("#command-confirm");
  box.hidden = false;
  box.replaceChildren(
    el("p", { id: "command-question" }, `确认将「${p.label}」设为 ${valueText(p, value)}？命令将下发到现场设备。`),
    el("button", { type: "button", class: "primary", id: "command-ok", onclick: () => send(p, value) }, "确认下发"),
    el("button", { type: "button", id: "command-cancel", onclick: () => { box.hidden = true; } }, "取消"),
  );
  $("#command-ok").focus();
}

function withoutEnglish(text) {
  // the API's problem detail ends with its English summary in parentheses
  return String(text).replace(/\s*\([a-z][^()]*\)\s*$/i, "");
}

function outcomeText(c) {
  const p = state.points[c.point];
  let text = `${c.point_label} → ${c.value_text}：${c.state_zh}`;
  if (c.read_back !== null && c.read_back !== undefined) text += `，回读 ${valueText(p, c.read_back)}`;
  if (c.reason) text += `（${c.reason}）`;
  return text;
}

async function send(p, value) {
  $("#command-confirm").hidden = true;
  state.sending = true;
  showResult(`正在下发「${p.label}」→ ${valueText(p, value)}…`, "pending");
  try {
    const key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
    const made = await api(COMMANDS(), {
      method: "POST",
      json: { point: p.name, value },
      headers: { "Idempotency-Key": key },
    });
    guarded(loadCommands);
    const done = await api(`${made.url}?wait=10`);
    showResult(done.final ? outcomeText(done) : `${outcomeText(done)}，等待网关回复`, done.state);
  } catch (err) {
    if (err.status !== 401) showResult(`未下发：${withoutEnglish(err.message)}`, "refused");
  } finally {
    state.sending = false;
  }
  guarded(loadCommands);
  refreshSoon([loadLive]);
}

async function loadCommands() {
  if (!writablePoints().length) return;
  const commands = await api(`${COMMANDS()}?limit=30`);
  $("#command-count").textContent = commands.length ? `${commands.length}` : "";
  $("#command-list").replaceChildren(
    commands.length
      ? el(
          "ul",
          { class: "rows" },
          commands.map((c) =>
            el(
              "li",
              { dataset: { command: c.id, state: c.state } },
              el("span", { class: "when" }, c.requested_at_local),
              el("span", { class: "what" }, `${c.point_label} → ${c.value_text}`),
              el("span", { class: `state state-${c.state}` }, c.state_zh),
              c.read_back !== null && c.read_back !== undefined
                ? el("span", { class: "muted small" }, `回读 ${valueText(state.points[c.point], c.read_back)}`)
                : null,
              el("span", { class: "muted small who" }, c.requested_by),
              c.reason ? el("span", { class: "muted small reason" }, c.reason) : null,
            ),
          ),
        )
      : el("p", { class: "muted" }, "暂无遥控记录"),
  );
}

// --- trend -----------------------------------------------------------------------------------

function axisTime(range) {
  // ticks in the site's zone: 14:05 within a day, 12月1日 beyond
  const long = range === "7d" || range === "30d";
  return (u, splits) =>
    splits.map((s) => {
      const text = fmtTime(new Date(s * 1000).toISOString()); // "12月1日 14:05"
      return long ? text.split(" ")[0] : text.split(" ")[1];
    });
}

// The API leaves out windows without readings; a null there makes uPlot break the line.
function withGaps(points, step) {
  const xs = [];
  const ys = [];
  let last = null;
  for (const [t, v] of points) {
    const x = Date.parse(t) / 1000;
    if (last !== null && x - last > step) {
      xs.push(last + step);
      ys.push(null);
    }
    xs.push(x);
    ys.push(v);
    last = x;
  }
  return [xs, ys];
}

function drawChart(answer, series) {
  const box = $("#trend-chart");
  const face = state.points[series.point] || { label: series.point, unit: series.unit };
  const unit = unitOf(series.unit);
  const data = withGaps(series.points, answer.step);
  const width = Math.max(200, box.clientWidth || 320);
  const height = window.innerWidth <= 430 ? 220 : 280;
  if (state.chart) state.chart.destroy();
  box.replaceChildren(); // a message of an earlier failed read
  const tz = state.site.timezone;
  state.chart = new uPlot(
    {
      width,
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
      scales: { x: { time: true } },
      series: [
        { label: "时间", value: (u, ts) => (ts == null ? "—" : fmtTime(new Date(ts * 1000).toISOString())) },
        {
          label: unit ? `${face.label}（${unit}）` : face.label,
          stroke: "#1f6feb",
          width: 1.5,
          spanGaps: false,
          value: (u, v) => (v == null ? "—" : fmtValue(v)),
        },
      ],
      axes: [
        { values: axisTime(state.range), stroke: "#6b7280" },
        { size: 56, stroke: "#6b7280", values: (u, splits) => splits.map((v) => fmtValue(v)) },
      ],
    },
    data,
    box,
  );
  // what is on the chart, for whoever needs to check it (the page tests read it)
  box.plotted = {
    point: series.point,
    range: state.range,
    from: answer.from,
    to: answer.to,
    step: answer.step,
    points: series.points,
  };
  box.dataset.point = series.point;
  box.dataset.range = state.range;
  box.dataset.count = String(series.points.length);
  box.setAttribute("aria-label", `${face.label}${RANGES[state.range].zh}趋势图`);
  summarize(face, series, answer);
}

function summarize(face, series, answer) {
  const vs = series.points.map(([, v]) => v);
  const out = $("#trend-summary");
  if (!vs.length) {
    out.textContent = `${RANGES[state.range].zh}内没有${face.label}的数据`;
    return;
  }
  const mean = vs.reduce((a, b) => a + b, 0) / vs.length;
  const step = answer.step >= 3600 ? `${answer.step / 3600} 小时` : answer.step >= 60 ? `${answer.step / 60} 分钟` : `${answer.step} 秒`;
  out.textContent =
    `${face.label}，${fmtTime(answer.from)} 至 ${fmtTime(answer.to)}，每 ${step}一个平均值：` +
    `最低 ${fmtValue(Math.min(...vs), face.unit)}，最高 ${fmtValue(Math.max(...vs), face.unit)}，` +
    `平均 ${fmtValue(mean, face.unit)}`;
}

async function loadTrend() {
  if (!state.point) return;
  const mine = ++state.trendSeq;
  const to = new Date();
  const from = new Date(to.getTime() - RANGES[state.range].ms);
  const q = new URLSearchParams({ points: state.point, from: from.toISOString(), to: to.toISOString() });
  const box = $("#trend-chart");
  box.dataset.loading = "true";
  try {
    const answer = await api(`/api/v1/assets/${encodeURIComponent(SITE)}/${encodeURIComponent(ASSET)}/telemetry?${q}`);
    if (mine !== state.trendSeq) return; // a later choice is on its way
    drawChart(answer, answer.series[0]);
  } catch (err) {
    if (mine !== state.trendSeq) return;
    if (state.chart) state.chart.destroy();
    state.chart = null;
    box.plotted = null;
    box.replaceChildren(el("p", { class: "muted" }, err.status === 503 ? "趋势数据暂时无法读取" : `趋势加载失败：${err.message}`));
    $("#trend-summary").textContent = "";
  } finally {
    if (mine === state.trendSeq) delete box.dataset.loading;
  }
}

// the chosen point and range stay in the address, so a reload or a shared link shows the same
function remember() {
  const q = new URLSearchParams(location.search);
  q.set("point", state.point);
  q.set("range", state.range);
  history.replaceState(null, "", `${location.pathname}?${q}`);
}

function wireTrend() {
  const select = $("#trend-point");
  const numeric = Object.values(state.points).filter((p) => p.numeric);
  select.replaceChildren(...numeric.map((p) => el("option", { value: p.name }, unitOf(p.unit) ? `${p.label}（${unitOf(p.unit)}）` : p.label)));
  // the point and range of the address (a link keeps them), else the first measured quantity
  const wanted = params.get("point");
  if (RANGES[params.get("range")]) state.range = params.get("range");
  for (const b of document.querySelectorAll(".ranges button")) b.setAttribute("aria-pressed", String(b.dataset.range === state.range));
  state.point = (numeric.find((p) => p.name === wanted) || numeric.find((p) => p.unit) || numeric[0])?.name || null;
  if (!state.point) {
    $("#trend-chart").replaceChildren(el("p", { class: "muted" }, "该设备没有可绘制趋势的测点"));
    return;
  }
  select.value = state.point;
  select.addEventListener("change", () => {
    state.point = select.value;
    remember();
    loadTrend();
  });
  for (const button of document.querySelectorAll(".ranges button")) {
    button.addEventListener("click", () => {
      state.range = button.dataset.range;
      for (const b of document.querySelectorAll(".ranges button")) b.setAttribute("aria-pressed", String(b === button));
      remember();
      loadTrend();
    });
  }
  let resizing;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      const box = $("#trend-chart");
      if (state.chart) state.chart.setSize({ width: Math.max(200, box.clientWidth), height: state.chart.height });
    }, 150);
  });
}

// --- alarms ----------------------------------------------------------------------------------

async function loadAlarms() {
  const site = encodeURIComponent(SITE);
  const [open, history] = await Promise.all([
    api(`/api/v1/alarms?site_id=${site}&state=raised&limit=500`),
    api(`/api/v1/alarms/history?site_id=${site}&asset=${encodeURIComponent(ASSET)}&limit=30`),
  ]);
  state.alarms = open.filter((a) => a.asset === ASSET);
  $("#alarm-count").textContent = state.alarms.length ? `${state.alarms.length} 条未恢复` : "";
  $("#open-alarms").replaceChildren(
    state.alarms.length
      ? el(
          "ul",
          { class: "rows" },
          state.alarms.map((a) =>
            el(
              "li",
              { dataset: { alarm: a.id } },
              el("span", { class: `badge sev-${a.severity}` }, SEVERITY_ZH[a.severity] || a.severity),
              el("span", { class: "what" }, a.message || a.alarm_type),
              el("span", { class: `state-chip isa-${a.isa_state}` }, ISA_STATE_ZH[a.isa_state] || a.isa_state),
              el("span", { class: "when" }, fmtTime(a.raised_at)),
            ),
          ),
        )
      : el("p", { class: "ok-note" }, "当前没有告警"),
  );
  $("#alarm-history").replaceChildren(
    history.items.length
      ? el(
          "ul",
          { class: "rows" },
          history.items.map((h) =>
            el(
              "li",
              {},
              el("span", { class: "when" }, fmtTime(h.at)),
              el("span", { class: "what" }, `${ALARM_ACTION_ZH[h.action] || h.action}：${h.message || h.alarm_type}`),
              el("span", { class: "muted small" }, ACTOR_ZH[h.actor] || personName(h.actor) || ""),
            ),
          ),
        )
      : el("p", { class: "muted" }, "没有告警记录"),
  );
  renderChip();
}

// --- work orders, plans, record --------------------------------------------------------------

async function loadOrders() {
  const page = await api(`/api/v1/work-orders?site_id=${encodeURIComponent(SITE)}&asset=${encodeURIComponent(ASSET)}&limit=50`);
  state.orders = page.items;
  const open = state.orders.filter((o) => OPEN_STATUSES.includes(o.status)).length;
  $("#order-count").textContent = state.orders.length ? `${state.orders.length} 张${open ? `，${open} 张未完成` : ""}` : "";
  $("#order-list").replaceChildren(
    state.orders.length
      ? el(
          "ul",
          { class: "rows" },
          state.orders.map((o) =>
            el(
              "li",
              { dataset: { order: o.id } },
              el("span", { class: `badge prio-${o.priority}` }, o.priority_zh),
              el("span", { class: "what" }, o.title),
              el("span", { class: "tag" }, o.status_zh || STATUS_ZH[o.status] || o.status),
              el("span", { class: "muted small" }, personName(o.assignee)),
              el("span", { class: "when" }, `报修 ${fmtTime(o.reported_at)}`),
            ),
          ),
        )
      : el("p", { class: "muted" }, "没有工单记录"),
  );
  renderChip();
}

async function loadPlans() {
  const plans = (await api(`/api/v1/sites/${encodeURIComponent(SITE)}/plans`)).filter((p) => (p.assets || []).includes(ASSET));
  $("#plan-list").replaceChildren(
    plans.length
      ? el(
          "ul",
          { class: "rows" },
          plans.map((p) =>
            el(
              "li",
              {},
              el("span", { class: "what" }, p.name),
              el("span", { class: "muted small" }, p.recurrence_zh || p.recurrence),
              p.enabled ? null : el("span", { class: "tag" }, "已停用"),
              p.status === "error" ? el("span", { class: "tag bad" }, "无法执行") : null,
            ),
          ),
        )
      : el("p", { class: "muted" }, "没有适用于该设备的保养计划"),
  );
}

function warranty(end) {
  if (!end) return el("dd", {}, "—");
  const days = Math.ceil((Date.parse(`${end}T23:59:59`) - Date.now()) / 86400e3);
  if (days < 0) return el("dd", { class: "warranty-out" }, `${fmtDate(end)}（已过保）`);
  return el("dd", { class: days <= 31 ? "warranty-soon" : "" }, `${fmtDate(end)}（剩余 ${days} 天）`);
}

function renderRecord() {
  const r = state.record;
  const zone = state.site.zones.find((z) => z.id === r.zone);
  const rows = [
    ["设备名称", r.name],
    ["所在位置", [r.building, r.location].filter(Boolean).join(" ") || "—"],
    ["片区", zone ? zone.name : r.zone],
    ["设备型号", [r.description, r.vendor ? `（${r.vendor}）` : ""].join("") || r.model || "—"],
    ["安装日期", fmtDate(r.install_date)],
  ];
  $("#record-body").replaceChildren(
    el(
      "dl",
      { class: "record" },
      rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
      el("dt", {}, "保修截止"),
      warranty(r.warranty_end),
      (r.inspections || []).flatMap((i) => [el("dt", {}, i.type_name), inspection(i)]),
    ),
  );
}

// 法定检验: the certificate and when the next inspection is due
function inspection(i) {
  if (!i.next_due) return el("dd", { class: "warranty-soon" }, "未登记检验结果");
  const cert = i.certificate_no ? `合格证 ${i.certificate_no}` : i.passed ? "" : "不合格待复检";
  const expiry = i.certificate_expiry ? `，有效期至 ${fmtDate(i.certificate_expiry)}` : "";
  const due =
    i.days_left < 0
      ? `已超期 ${-i.days_left} 天`
      : `下次检验 ${fmtDate(i.next_due)}（剩余 ${i.days_left} 天）`;
  const cls = i.days_left < 0 ? "warranty-out" : i.state === "ok" ? "" : "warranty-soon";
  return el("dd", { class: cls }, [cert + expiry, due].filter(Boolean).join("；"));
}

// --- start -----------------------------------------------------------------------------------

function guarded(load) {
  return load().catch((err) => {
    if (err.status !== 401) toast(`加载失败：${err.message}`, "error");
  });
}

let pending = null;
function refreshSoon(parts) {
  pending = pending || new Set();
  for (const p of parts) pending.add(p);
  clearTimeout(refreshSoon.timer);
  refreshSoon.timer = setTimeout(() => {
    const todo = pending;
    pending = null;
    for (const load of todo) guarded(load);
  }, 250);
}

function onEvent(type, data) {
  if (data && data.site_id && data.site_id !== SITE) return;
  if (type.startsWith("alarm.")) refreshSoon([loadAlarms, loadLive]);
  else if (type.startsWith("work_order.")) refreshSoon([loadOrders]);
}

async function main() {
  // the duty room's token (this page is opened from it), or a technician's from 我的任务
  const page = location.hash.includes("token=") || localStorage.getItem("propwatch.token.duty") || !localStorage.getItem("propwatch.token.tasks") ? "duty" : "tasks";
  if (!takeToken(page)) {
    showLogin();
    return;
  }
  if (!SITE || !ASSET) {
    $("main").replaceChildren(el("p", { class: "error" }, "请从值班室的设备状态打开设备详情（缺少 site 或 asset 参数）"));
    document.body.dataset.stream = "none";
    return;
  }
  try {
    const [me, sites, record] = await Promise.all([
      api("/api/v1/me"),
      api("/api/v1/sites"),
      api(`/api/v1/assets/${encodeURIComponent(SITE)}/${encodeURIComponent(ASSET)}/record`),
    ]);
    state.site = sites.find((s) => s.id === SITE);
    if (!state.site) throw new Error(`此令牌无权查看小区 ${SITE}`);
    useZone(state.site.timezone);
    state.people = Object.fromEntries(state.site.people.map((p) => [p.id, p.name]));
    state.record = record;
    state.points = Object.fromEntries(record.points.map((p) => [p.name, p]));
    document.title = `${record.name} · 设备详情`;
    $("#asset-name").textContent = record.name;
    $("#site-name").textContent = state.site.name;
    $("#back").href = `/?site=${encodeURIComponent(SITE)}`;
    $("#who").textContent = me.person_name || me.name;
    state.role = me.role;
    $("#logout")?.addEventListener("click", logout);
    renderRecord();
    renderControls();
    wireTrend();
  } catch (err) {
    if (err.status !== 401) {
      $("main").replaceChildren(el("p", { class: "error" }, `加载失败：${err.message}`));
    }
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
      [loadLive, loadAlarms, loadOrders, loadPlans, loadTrend, loadCommands].forEach(guarded);
    } else if (s === "live") {
      refreshSoon([loadLive, loadAlarms, loadOrders, loadCommands]);
    }
  });
  // readings are not on the event stream: the live values each 30 s, the trend each minute
  setInterval(() => refreshSoon([loadLive]), 30000);
  // the schedule's and other desks' commands are not on the event stream either
  setInterval(() => refreshSoon([loadCommands]), 30000);
  setInterval(() => refreshSoon([loadTrend]), 60000);
}

main();
