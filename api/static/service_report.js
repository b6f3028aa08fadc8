// 服务报告 (月度工作报告): a site's month beside the plan's targets
// (GET /api/v1/sites/{site}/reports/service), laid out to be printed and posted on the notice
// board. Figures and targets are the API's own text (`shown`, `target_shown`), cell for cell.
import { $, api, el, showLogin, takeToken, toast } from "/static/common.js";

const MET_ZH = { true: "达标", false: "未达标" };
const state = { sites: [], site: null };

function localMonth(tz, back = 0) {
  const fmt = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "numeric" });
  const p = Object.fromEntries(fmt.formatToParts(new Date()).map((x) => [x.type, x.value]));
  const index = Number(p.year) * 12 + Number(p.month) - 1 - back;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, "0")}`;
}

function monthTitle(month) {
  const [y, m] = month.split("-").map(Number);
  return `${y}年${m}月`;
}

// 统计期间：2026年11月1日至11月30日
function period(month) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return `统计期间：${y}年${m}月1日至${m}月${last}日`;
}

function basis(f) {
  if (f.of === null || f.count === null || f.key === "complaints") return "";
  return f.key === "complaint_rate" ? `${f.count} 件 / ${f.of} 户` : `${f.count} / ${f.of}`;
}

function siteTable(figures) {
  const rows = figures.map((f) =>
    el(
      "tr",
      { dataset: { figure: f.key } },
      el("td", {}, f.name),
      el("td", { class: "n value" }, f.shown),
      el("td", { class: "n" }, basis(f)),
      el("td", { class: "n target" }, f.target_shown ?? "—"),
      el("td", { class: f.met === false ? "late met" : "met" }, MET_ZH[f.met] ?? "—"),
    ),
  );
  return el(
    "table",
    { class: "table" },
    el("thead", {}, el("tr", {}, ["指标", "本月", "计算", "目标", "是否达标"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
}

function zoneTable(report) {
  const names = report.site.figures.map((f) => f.name);
  const rows = report.zones.map((z) =>
    el(
      "tr",
      { dataset: { zone: z.zone } },
      el("td", {}, z.name),
      z.figures.map((f) => el("td", { class: "n", dataset: { figure: f.key } }, f.shown)),
    ),
  );
  return el(
    "div",
    { class: "wide" },
    el(
      "table",
      { class: "table" },
      el("thead", {}, el("tr", {}, el("th", {}, "片区"), names.map((n) => el("th", { class: "n" }, n)))),
      el("tbody", {}, rows),
    ),
  );
}

function render(report) {
  document.title = `服务报告 ${report.site_name} ${report.month}`;
  const households = report.site.households ? `总户数 ${report.site.households} 户。` : "";
  $("#sheet").replaceChildren(
    el(
      "header",
      {},
      el("h2", {}, `${report.site_name} 月度工作报告`),
      el("p", {}, `${monthTitle(report.month)} 服务报告（公示）`),
      el("p", { id: "period" }, period(report.month)),
    ),
    el("section", { id: "site-figures" }, el("h3", {}, "全小区"), siteTable(report.site.figures), el("p", { class: "empty" }, households)),
    report.zones.length ? el("section", { id: "zone-figures" }, el("h3", {}, "各片区"), zoneTable(report)) : "",
    el(
      "p",
      { class: "note" },
      "说明：满意度为回访三项评分均不低于 4 分的比例；投诉复发率为同一位置、同类投诉 30 日内再次发生的比例；维修响应以报修后 8 小时内接单计，紧急维修以 1 小时内到场计；回访率为需回访的已关闭工单中已回访的比例。",
    ),
    el("div", { class: "signature" }, el("span", {}, `${report.site_name}物业服务中心`)),
  );
  document.body.dataset.ready = `${report.site_id}:${report.month}`;
}

function reportPath(ext = "") {
  const month = $("#month").value;
  return `/api/v1/sites/${encodeURIComponent(state.site.id)}/reports/service${ext}?month=${month}`;
}

async function load() {
  const month = $("#month").value;
  const url = new URL(location.href);
  url.searchParams.set("site", state.site.id);
  url.searchParams.set("month", month);
  history.replaceState(null, "", url.pathname + url.search);
  $("#duty-link").href = `/?site=${encodeURIComponent(state.site.id)}`;
  delete document.body.dataset.ready;
  try {
    render(await api(reportPath()));
  } catch (err) {
    $("#sheet").replaceChildren(el("p", { class: "error" }, `服务报告加载失败：${err.message}`));
  }
}

async function downloadPdf() {
  try {
    const blob = await api(reportPath(".pdf"));
    const link = el("a", {
      href: URL.createObjectURL(blob),
      download: `${state.site.name}${$("#month").value}服务报告.pdf`,
    });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  } catch (err) {
    toast(`PDF 下载失败：${err.message}`, "error");
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
  const month = $("#month");
  month.max = localMonth(state.site.timezone);
  // the month just ended by default: the report is posted at the start of the next
  month.value = /^\d{4}-\d{2}$/.test(params.get("month") || "")
    ? params.get("month")
    : localMonth(state.site.timezone, 1);
  select.addEventListener("change", () => {
    state.site = state.sites.find((s) => s.id === select.value);
    load();
  });
  month.addEventListener("change", () => month.value && load());
  $("#print").addEventListener("click", () => window.print());
  $("#pdf").addEventListener("click", downloadPdf);
  await load();
}

start();
