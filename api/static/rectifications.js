// 我的整改 on the phone page: the rectifications the token's person answers for, open ones first
// by deadline, then those reported done (已整改) awaiting 复查. Each card offers what its state
// allows: 开始整改; 提交整改 (a note and at least one photo, uploaded through the evidence API, then
// the step to 已整改); and, for the duty room, 复查通过 / 复查不通过 (with a reason) of every
// rectification in 已整改. What is typed survives the live updates that re-render the cards.
import { $, api, el, keepFields, toast } from "/static/common.js";

const PHOTO_MAX = 8 * 1024 * 1024;
const STEP_DONE = { in_progress: "已开始整改", rectified: "已提交整改", passed: "复查通过", failed: "复查不通过，已退回整改中" };
const ORDER = { issued: 0, in_progress: 0, rectified: 1 };

const state = { site: null, person: null, reviewer: false, seq: 0 };

function base() {
  return `/api/v1/sites/${encodeURIComponent(state.site)}/rectifications`;
}

async function all(query) {
  const items = [];
  let after = 0;
  for (;;) {
    const page = await api(`${base()}?${query}&limit=200&after=${after}`);
    items.push(...page.items);
    if (page.next_after === null || page.next_after === undefined) return items;
    after = page.next_after;
  }
}

async function fetchMine() {
  const who = state.person ? `assignee=${encodeURIComponent(state.person)}&` : null;
  const queries = [];
  if (who) for (const s of ["issued", "in_progress", "rectified"]) queries.push(`${who}status=${s}`);
  if (state.reviewer) queries.push("status=rectified");
  const seen = new Map();
  for (const rows of await Promise.all(queries.map(all))) for (const r of rows) seen.set(r.id, r);
  return [...seen.values()].sort(
    (a, b) => ORDER[a.status] - ORDER[b.status] || new Date(a.deadline_at) - new Date(b.deadline_at) || a.id - b.id,
  );
}

export async function loadRectifications() {
  if (!state.site) return;
  const mine = ++state.seq;
  const rows = await fetchMine();
  if (mine !== state.seq) return;
  const todo = rows.filter((r) => r.status !== "rectified" || state.reviewer);
  const late = rows.filter((r) => r.overdue).length;
  $("#rect-summary").textContent = rows.length
    ? `${todo.length} 项待处理${late ? `，${late} 项已超期` : ""}`
    : "暂无整改";
  const list = $("#rect-list");
  const before = new Map([...list.querySelectorAll("[data-rect]")].map((li) => [li.dataset.rect, li]));
  const focused = document.activeElement;
  const cards = rows.map(card);
  list.replaceChildren(...cards);
  for (const li of cards) keepFields(before.get(li.dataset.rect), li, focused);
  // set by the load that shows the list: one started by the stream meanwhile supersedes the
  // first, which then renders nothing
  document.body.dataset.rectifications = "ready";
}

function card(r) {
  const mineToDo = r.assignee === state.person;
  return el(
    "li",
    {
      class: `rect sev-${r.severity}${r.overdue ? " overdue" : ""}`,
      dataset: { rect: r.id, status: r.status },
    },
    el(
      "p",
      { class: "line1" },
      el("span", { class: `badge prio-${r.severity}` }, r.severity_zh),
      el("span", { class: "status" }, r.status_zh),
      r.overdue ? el("span", { class: "tag bad" }, "已超期") : null,
    ),
    el("p", { class: "title" }, `${r.place.name} · ${r.type_name}`),
    el("p", { class: "requirement" }, r.requirement),
    el(
      "p",
      { class: "muted small" },
      `期限 ${r.deadline_local}`,
      r.assignee_name ? ` · 责任人 ${r.assignee_name}` : "",
      r.recheck_failures ? ` · 复查不通过 ${r.recheck_failures} 次` : "",
    ),
    actions(r, mineToDo),
    el(
      "ul",
      { class: "history" },
      r.steps
        .slice(-6)
        .reverse()
        .map((s) =>
          el(
            "li",
            {},
            `${s.at_local} ${s.actor_name} ${s.step}`,
            s.note ? `：${s.note}` : "",
            s.photos.length ? `（照片 ${s.photos.length} 张）` : "",
          ),
        ),
    ),
  );
}

function actions(r, mine) {
  if (r.status === "issued" && mine) {
    return el("div", { class: "steps" }, el("button", { class: "primary", dataset: { act: "start" }, onclick: () => move(r, "in_progress") }, "开始整改"));
  }
  if (r.status === "in_progress" && mine) return submitForm(r);
  if (r.status === "rectified" && state.reviewer && !mine) return recheckForm(r);
  if (r.status === "rectified") return el("p", { class: "muted small" }, "已提交整改，等待复查");
  return null;
}

function submitForm(r) {
  const note = el("textarea", {
    rows: 2,
    maxlength: 2000,
    placeholder: "整改说明，如：已清理杂物",
    "aria-label": "整改说明",
    dataset: { keep: "rect-note" },
  });
  const fileName = el("span", { class: "file-name" }, "未选择");
  const input = el("input", {
    type: "file",
    multiple: true,
    accept: "image/jpeg,image/png,image/webp",
    capture: "environment",
    onchange: () => {
      fileName.textContent = input.files.length ? [...input.files].map((f) => f.name).join("、") : "未选择";
    },
  });
  const pick = el("label", { class: "file-pick", dataset: { keep: "rect-photo" } }, input, "拍整改后照片", fileName);
  const send = el(
    "button",
    {
      class: "primary",
      dataset: { act: "submit" },
      onclick: async () => {
        const files = [...input.files];
        if (!files.length) {
          toast("提交整改需至少上传一张整改后照片", "error");
          return;
        }
        const big = files.find((f) => f.size > PHOTO_MAX);
        if (big) {
          toast(`${big.name} 超过 8 MB，请压缩后再传`, "error");
          return;
        }
        send.disabled = true;
        try {
          const refs = [];
          for (const file of files) {
            const form = new FormData();
            form.append("file", file);
            form.append("note", note.value.trim());
            refs.push((await api(`${base()}/${r.id}/evidence`, { method: "POST", form })).ref);
          }
          await step(r, "rectified", note.value.trim(), refs);
          input.value = "";
          note.value = "";
        } catch (err) {
          toast(`提交失败：${err.message}`, "error");
        }
        send.disabled = false;
        await loadRectifications();
      },
    },
    "提交整改",
  );
  return el("div", { class: "rect-form" }, note, pick, el("div", { class: "steps" }, send));
}

function recheckForm(r) {
  const reason = el("textarea", {
    rows: 2,
    maxlength: 2000,
    placeholder: "复查意见；不通过时写明仍存在的问题",
    "aria-label": "复查意见",
    dataset: { keep: "rect-reason" },
  });
  const fail = () => {
    if (!reason.value.trim()) {
      reason.focus();
      toast("复查不通过请写明仍存在的问题", "error");
      return;
    }
    move(r, "failed", reason.value.trim());
  };
  return el(
    "div",
    { class: "rect-form" },
    reason,
    el(
      "div",
      { class: "steps" },
      el("button", { class: "primary", dataset: { act: "pass" }, onclick: () => move(r, "passed", reason.value.trim()) }, "复查通过"),
      el("button", { class: "fail", dataset: { act: "fail" }, onclick: fail }, "复查不通过"),
    ),
  );
}

async function step(r, to, note = "", evidence = []) {
  await api(`${base()}/${r.id}/transitions`, {
    method: "POST",
    json: { to, note, evidence },
    headers: { "If-Match": r.etag },
  });
  toast(`${STEP_DONE[to]}：${r.place.name}`);
}

async function move(r, to, note = "") {
  try {
    await step(r, to, note);
  } catch (err) {
    toast(err.status === 412 ? "整改单已被他人修改，已刷新" : `操作失败：${err.message}`, "error");
  }
  await loadRectifications();
}

// `me`: the token, whose person answers for rectifications
export async function installRectifications(site, me) {
  state.site = site.id;
  state.person = me.person || null;
  // the quality API is the duty room's and the technicians'; 复查 is the duty room's alone
  state.reviewer = ["duty", "admin"].includes(me.role);
  if (!state.reviewer && !(me.role === "technician" && state.person)) return;
  $("#rectifications").hidden = false;
  await loadRectifications();
}
