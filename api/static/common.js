// propwatch pages: token handling, the JSON API, the event stream, and zh-CN formatting.
// Plain modern JavaScript, no framework and nothing loaded from another origin.

// Each page keeps its own token (`propwatch.token.duty`, `propwatch.token.tasks`): opening a
// technician's 我的任务 link must not change who the duty room runs as.
const LEGACY_KEY = "propwatch.token";
let tokenKey = "propwatch.token.duty";
export const TZ = "Asia/Shanghai";

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// el("div", {class: "x", onclick: fn}, "text", child) — text is always set as text, never HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// The token comes from `#token=...` once (the demo prints such a link), then lives in localStorage
// under this page's key; the fragment is never sent to the server and is removed from the address
// bar at once. A token stored by an older version under the shared key is taken over once.
export function takeToken(page = "duty") {
  tokenKey = `propwatch.token.${page}`;
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    localStorage.setItem(tokenKey, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  } else if (!localStorage.getItem(tokenKey) && localStorage.getItem(LEGACY_KEY)) {
    localStorage.setItem(tokenKey, localStorage.getItem(LEGACY_KEY));
  }
  localStorage.removeItem(LEGACY_KEY);
  return localStorage.getItem(tokenKey);
}

// A token of the wrong role for this page (a technician's on the duty room) is put aside and
// the page asks for one that fits, saying why.
export function refuseToken(message) {
  localStorage.removeItem(tokenKey);
  showLogin(message);
}

export function logout() {
  localStorage.removeItem(tokenKey);
  location.reload();
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

const READS = new Set(["GET", "HEAD"]);

export async function api(path, { method = "GET", json, form, headers = {} } = {}) {
  const token = localStorage.getItem(tokenKey) || "";
  const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers } };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  let response = await fetch(path, init);
  // A read the database was too busy to admit (503 with Retry-After) is asked again, twice at
  // most, so a panel does not stay on its error after a moment's load; a write is not repeated.
  for (let retry = 0; response.status === 503 && READS.has(method) && retry < 2; retry += 1) {
    const wait = Math.min(Number(response.headers.get("Retry-After")) || 1, 3);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    response = await fetch(path, init);
  }
  if (response.status === 401) {
    localStorage.removeItem(tokenKey);
    showLogin("访问令牌无效或已过期，请重新输入");
    throw new ApiError(401, "未登录");
  }
  if (!response.ok) {
    let detail = `${response.status}`;
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || detail;
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, detail);
  }
  const etag = response.headers.get("ETag");
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : await response.blob();
  if (etag && body && typeof body === "object") Object.defineProperty(body, "etag", { value: etag });
  return body;
}

// Server-sent events over fetch, so the token travels in the Authorization header and never in
// a URL. Until an event has arrived a connection starts at the newest event (`tail`, and the page
// reloads its data on every "live"); after that reconnects send Last-Event-ID, so nothing is
// missed while the connection was down.
export function listen(onEvent, onState) {
  let lastId = null;
  let delay = 1000;
  async function connect() {
    const token = localStorage.getItem(tokenKey) || "";
    const headers = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    const url = lastId === null ? "/api/v1/stream?tail=true" : "/api/v1/stream";
    try {
      const response = await fetch(url, { headers, cache: "no-store" });
      if (response.status === 401) {
        showLogin("访问令牌无效或已过期，请重新输入");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`stream ${response.status}`);
      delay = 1000;
      onState("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = { id: null, type: "message", data: "" };
          for (const line of frame.split("\n")) {
            if (line.startsWith("id:")) event.id = line.slice(3).trim();
            else if (line.startsWith("event:")) event.type = line.slice(6).trim();
            else if (line.startsWith("data:")) event.data += line.slice(5).trim();
          }
          if (event.id) lastId = event.id;
          if (event.data) {
            try {
              onEvent(event.type, JSON.parse(event.data));
            } catch (err) {
              console.error("event", err);
            }
          }
        }
      }
    } catch (err) {
      console.warn("stream", err);
    }
    onState("reconnecting");
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  }
  return connect();
}

// --- time ---------------------------------------------------------------------------------

// Times are shown in the site's own zone (a company's properties may lie in several), set once
// the page knows its site (`useZone`); Asia/Shanghai until then.
let zone = TZ;
const formats = new Map();

function format(kind, tz = zone) {
  const key = `${kind}|${tz}`;
  if (!formats.has(key)) {
    const options = {
      time: { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false },
      clock: { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false },
      hm: { hour: "2-digit", minute: "2-digit", hour12: false },
    }[kind];
    if (kind === "zoned") {
      formats.set(
        key,
        new Intl.DateTimeFormat("en-US", {
          timeZone: tz,
          hourCycle: "h23",
          year: "numeric",
          month: "2-digit",
          day: "2-digit",
          hour: "2-digit",
          minute: "2-digit",
          second: "2-digit",
        }),
      );
    } else {
      formats.set(key, new Intl.DateTimeFormat("zh-CN", { timeZone: tz, ...options }));
    }
  }
  return formats.get(key);
}

export function useZone(tz) {
  if (tz) zone = tz;
}

// "12月1日 14:05" in the site's zone.
export function fmtTime(iso) {
  if (!iso) return "—";
  const p = Object.fromEntries(
    format("zoned").formatToParts(new Date(iso)).map((part) => [part.type, part.value]),
  );
  return `${+p.month}月${+p.day}日 ${p.hour}:${p.minute}`;
}

// "12月1日" of a calendar date ("2026-12-01"), as the reports give a night or a day.
export function fmtDay(isoDate) {
  if (!isoDate) return "—";
  const [, month, day] = isoDate.slice(0, 10).split("-");
  return `${+month}月${+day}日`;
}

// "18:05" in the zone `tz` (a site's), for a page that shows several sites.
export function fmtHourIn(iso, tz) {
  return iso ? format("hm", tz || zone).format(new Date(iso)) : "—";
}

// A `datetime-local` value ("2026-11-23T20:15") read as a wall-clock time in the site's zone,
// whatever the browser's own zone, as an ISO 8601 instant for the API.
export function zonedToIso(local) {
  const asUtc = new Date(`${local.length === 16 ? `${local}:00` : local}Z`);
  const parts = Object.fromEntries(
    format("zoned").formatToParts(asUtc).map((p) => [p.type, p.value]),
  );
  const seen = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return new Date(asUtc.getTime() - (seen - asUtc.getTime())).toISOString();
}

// Today's calendar date in the site's zone ("2026-12-01"), whatever the browser's own zone.
export function localToday(now = new Date()) {
  const p = Object.fromEntries(format("zoned").formatToParts(now).map((part) => [part.type, part.value]));
  return `${p.year}-${p.month}-${p.day}`;
}

// --- money ------------------------------------------------------------------------------

// The API's 元 strings ("1234.50") to 分 and back, so sums never go through a float.
export function toFen(yuan) {
  const m = String(yuan ?? "0").match(/^(-?)(\d+)(?:\.(\d{1,2}))?$/);
  if (!m) return 0;
  const fen = Number(m[2]) * 100 + Number((m[3] || "").padEnd(2, "0"));
  return m[1] ? -fen : fen;
}

// "¥1,234.50" from "1234.5", "1234.50" or a number of 分 (`fen`).
export function fmtYuan(yuan, { fen } = {}) {
  const n = fen ?? toFen(yuan);
  const whole = String(Math.floor(Math.abs(n) / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${n < 0 ? "-" : ""}¥${whole}.${String(Math.abs(n) % 100).padStart(2, "0")}`;
}

// The API's problem detail is "中文 (english)": the pages show the Chinese.
export function withoutEnglish(text) {
  return String(text).replace(/\s*\([A-Za-z][^()]*\)\s*$/, "");
}

export function fmtClock(date) {
  return format("clock").format(date);
}

function pad(n) {
  return String(n).padStart(2, "0");
}

export function fmtSpan(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const days = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const clock = `${pad(h)}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
  return days ? `${days}天 ${clock}` : clock;
}

// The SLA limit a work order is working against now: the earliest of the limits not yet met
// (respond until accepted, arrive until on site, resolve until done; a completion limit may
// fall before an arrival limit). On hold the clock is stopped (null).
const STAGE = {
  registered: ["respond_due", "arrive_due", "resolve_due"],
  dispatched: ["respond_due", "arrive_due", "resolve_due"],
  reopened: ["respond_due", "arrive_due", "resolve_due"],
  accepted: ["arrive_due", "resolve_due"],
  on_site: ["resolve_due"],
};
export const LIMIT_ZH = { respond_due: "响应", arrive_due: "到场", resolve_due: "完成" };

export function nextDue(order) {
  let best = null;
  for (const key of STAGE[order.status] || []) {
    if (!order[key]) continue;
    const at = new Date(order[key]);
    if (!best || at < best.at) best = { key, at };
  }
  return best;
}

// Fills every [data-due] element with a countdown, and marks overdue and nearly due ones.
export function tickCountdowns(root = document, now = Date.now()) {
  for (const node of root.querySelectorAll("[data-due]")) {
    const left = new Date(node.dataset.due).getTime() - now;
    const label = node.dataset.label || "";
    node.textContent = left >= 0 ? `${label}剩余 ${fmtSpan(left)}` : `${label}超时 ${fmtSpan(left)}`;
    const row = node.closest("[data-row]") || node;
    row.classList.toggle("overdue", left < 0);
    row.classList.toggle("soon", left >= 0 && left < 30 * 60 * 1000);
  }
}

// --- forms that survive live updates -----------------------------------------------------

// After `fresh` replaced `stale` (a card or a panel re-rendered from the stream), what had been
// typed or picked in the fields marked data-keep (a field, or a box of fields) is carried over
// to their twins in `fresh`, the focus and caret included: a half-typed reason or a chosen photo
// is not wiped by an update. The twins keep their own handlers, so they act on the new copy.
// `focused` is the element that had the focus before `stale` left the page.
const FIELDS = "input, textarea, select";

export function keepFields(stale, fresh, focused = document.activeElement) {
  if (!stale || !fresh) return;
  for (const old of stale.querySelectorAll("[data-keep]")) {
    const twin = fresh.querySelector(`[data-keep="${CSS.escape(old.dataset.keep)}"]`);
    if (!twin) continue;
    const olds = old.matches(FIELDS) ? [old] : [...old.querySelectorAll(FIELDS)];
    const news = twin.matches(FIELDS) ? [twin] : [...twin.querySelectorAll(FIELDS)];
    olds.forEach((field, i) => {
      const copy = news[i];
      if (!copy) return;
      if (field.type === "file") {
        if (field.files && field.files.length) {
          copy.files = field.files;
          copy.dispatchEvent(new Event("change"));
        }
      } else if (field.value && field.value !== copy.value) {
        copy.value = field.value;
        copy.dataset.kept = field.value; // a list still filling its options picks it when done
      }
      if (field === focused) {
        copy.focus();
        if (typeof field.selectionStart === "number" && copy.setSelectionRange) {
          try {
            copy.setSelectionRange(field.selectionStart, field.selectionEnd);
          } catch {
            /* a field without a caret (number, select) */
          }
        }
      }
    });
  }
}

// --- messages -----------------------------------------------------------------------------

export function toast(message, kind = "info") {
  let box = $("#toasts");
  if (!box) {
    box = el("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const note = el("div", { class: `toast ${kind}` }, message);
  box.append(note);
  setTimeout(() => note.remove(), 4000);
}

let loginShown = false;

export function showLogin(message = "") {
  if (loginShown) return;
  loginShown = true;
  const input = el("input", {
    id: "token-input",
    type: "password",
    autocomplete: "off",
    placeholder: "pw_…",
    required: true,
  });
  const form = el(
    "form",
    {
      id: "login",
      class: "login",
      onsubmit: (e) => {
        e.preventDefault();
        localStorage.setItem(tokenKey, input.value.trim());
        location.reload();
      },
    },
    el("h2", {}, "请输入访问令牌"),
    el("p", { class: "muted" }, "令牌由管理员发放；演示模式启动时会在终端打印一个。"),
    message ? el("p", { class: "error" }, message) : null,
    input,
    el("button", { type: "submit", class: "primary" }, "登录"),
  );
  document.body.replaceChildren(el("main", { class: "login-wrap" }, form));
  input.focus();
}

export const SEVERITY_ZH = { critical: "紧急", major: "重要", minor: "次要", warning: "提示" };
export const ROLE_ZH = { technician: "维修", security: "保安", service: "客服", supervisor: "主管" };
export const STATUS_ZH = {
  registered: "已登记",
  dispatched: "已派单",
  accepted: "已接单",
  on_site: "已到场",
  on_hold: "挂起",
  resolved: "已完成",
  verified: "已验收",
  closed: "已关闭",
  revisited: "已回访",
  cancelled: "已取消",
  reopened: "已重开",
  note: "跟进记录",
  reassigned: "改派",
  changed: "修改工单",
  file_deleted: "删除附件",
};

// 告警状态 as ISA-18.2 names them (the API's `isa_state`), and the journal's actions.
export const ISA_STATE_ZH = {
  unacknowledged: "未确认",
  acknowledged: "已确认",
  returned_unacknowledged: "已恢复未确认",
  normal: "已恢复",
  shelved: "已搁置",
  suppressed: "设计抑制",
  out_of_service: "已停用",
};
export const ALARM_ACTION_ZH = {
  raised: "告警",
  repeated: "再次告警",
  cleared: "恢复",
  acknowledged: "确认",
  shelved: "搁置",
  unshelved: "取消搁置",
  suppressed: "设计抑制",
  out_of_service: "停用",
  returned_to_service: "恢复启用",
  stale: "设备离线，状态未知",
  fresh: "设备恢复在线",
};
// Who changed an alarm when it was not a person.
export const ACTOR_ZH = { gateway: "网关", reconciliation: "状态核对" };
