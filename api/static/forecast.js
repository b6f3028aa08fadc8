// 工作量预测: the plan orders and labour hours of the coming days (GET …/plan-forecast), per
// zone, per person and per week, and the first visits; figures are the API's, times local.
import { $, api, el, showLogin, takeToken } from "/static/common.js";

const state = { sites: [], site: null };

function local(iso, withTime = true) {
  const p = {};
  const fmt = new Intl.DateTimeFormat("en-CA", {
    timeZone: state.site.timezone, month: "numeric", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  for (const part of fmt.formatToParts(new Date(iso))) p[part.type] = part.value;
  return `${Number(p.month)}月${Number(p.day)}日` + (withTime ? ` ${p.hour}:${p.minute}` : "");
}

const hours = (h) => h.toLocaleString("zh-CN", { maximumFractionDigits: 2 });

function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "empty" }, empty);
  return el(
    "table",
    { class: "table" },
    el("thead", {}, el("tr", {}, headers.map(([text, cls]) => el("th", { class: cls }, text)))),
    el("tbody", {}, rows),
  );
}

function groups(id, title, rows, key) {
  return el(
    "section",
    { id },
    el("h3", {}, title),
    table(
      [[title.replace("按", "")], ["工单", "n"], ["工时（小时）", "n"]],
      rows.map((g) =>
        el(
          "tr",
          { dataset: { [key]: g.id ?? "none" } },
          el("td", {}, g.name),
          el("td", { class: "n", dataset: { figure: "orders" } }, g.orders),
          el("td", { class: "n", dataset: { figure: "hours" } }, hours(g.hours)),
        ),
      ),
      "没有计划工作",
    ),
  );
}

function render(f) {
  const people = Object.fromEntries(state.site.people.map((p) => [p.id, p.name]));
  $("#sheet").replaceChildren(
    el(
      "header",
      {},
      el("h2", {}, `${state.site.name} 计划工作量预测`),
      el("p", { class: "muted" }, `${local(f.start, false)}至${local(f.end, false)}`),
    ),
    el(
      "p",
      { id: "total" },
      "共 ",
      el("strong", { dataset: { figure: "orders" } }, f.orders),
      " 张计划工单，预计 ",
      el("strong", { dataset: { figure: "hours" } }, hours(f.hours)),
      " 小时",
    ),
    groups("by-zone", "按片区", f.by_zone, "zone"),
    groups("by-technician", "按人员", f.by_technician, "person"),
    el(
      "section",
      { id: "by-week" },
      el("h3", {}, "按周"),
      table(
        [["周"], ["工单", "n"], ["工时（小时）", "n"]],
        f.by_week.map((w, i) =>
          el(
            "tr",
            { dataset: { week: i } },
            el("td", {}, `${local(w.start, false)}起`),
            el("td", { class: "n", dataset: { figure: "orders" } }, w.orders),
            el("td", { class: "n", dataset: { figure: "hours" } }, hours(w.hours)),
          ),
        ),
        "—",
      ),
    ),
    el(
      "section",
      { id: "visits" },
      el("h3", {}, `最近的 ${f.visits.length} 项`),
      table(
        [["时间"], ["计划"], ["设备"], ["负责人"], ["工时", "n"]],
        f.visits.map((v) =>
          el(
            "tr",
            {},
            el("td", {}, local(v.due_at)),
            el("td", {}, v.plan_name + (v.absorbs.length ? "（套保）" : "")),
            el("td", {}, state.assets[v.asset] || v.asset),
            el("td", {}, v.assignee ? people[v.assignee] || v.assignee : "未分配"),
            el("td", { class: "n" }, hours(v.hours)),
          ),
        ),
        "没有计划工作",
      ),
    ),
  );
  document.body.dataset.ready = `${f.site_id}:${$("#days").value}`;
}

async function load() {
  const site = state.site;
  const days = $("#days").value;
  const url = new URL(location.href);
  url.searchParams.set("site", site.id);
  url.searchParams.set("days", days);
  history.replaceState(null, "", url.pathname + url.search);
  $("#duty-link").href = `/?site=${encodeURIComponent(site.id)}`;
  delete document.body.dataset.ready;
  try {
    const [forecast, assets] = await Promise.all([
      api(`/api/v1/sites/${encodeURIComponent(site.id)}/plan-forecast?days=${days}&limit=50`),
      api(`/api/v1/assets?site_id=${encodeURIComponent(site.id)}`),
    ]);
    state.assets = Object.fromEntries(assets.map((a) => [a.id, a.name]));
    render(forecast);
  } catch (err) {
    $("#sheet").replaceChildren(el("p", { class: "error" }, `预测加载失败：${err.message}`));
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
  const select = $("#site");
  select.replaceChildren(...state.sites.map((s) => el("option", { value: s.id }, s.name)));
  select.value = state.site.id;
  if (["30", "60", "90"].includes(params.get("days"))) $("#days").value = params.get("days");
  select.addEventListener("change", () => {
    state.site = state.sites.find((s) => s.id === select.value);
    load();
  });
  $("#days").addEventListener("change", load);
  await load();
}

start();
