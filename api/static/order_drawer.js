// 工单详情: the duty room's drawer for one work order. Every field and due time, the history in
// sentences with local times and names, photos, the checklist, the linked alarm and plan, and the
// duty room's actions (改派, 验收, 关闭, 回访, 取消, 重开, 跟进记录). Each action sends the ETag last
// read as If-Match; a change made elsewhere meanwhile is refused (412) and the drawer reloads.
// 费用 (parts, labour, extra costs, 有偿维修) is order_costs.js's.
import { $, api, el, fmtSpan, fmtTime, keepFields, LIMIT_ZH, nextDue, STATUS_ZH, tickCountdowns, toast } from "/static/common.js";
import { costSection, loadCosts } from "/static/order_costs.js";

export const SOURCE_ZH = { alarm: "告警", plan: "保养计划", manual: "人工登记", ticket: "工单系统" };
const SEVERITY_ZH = { critical: "紧急", major: "重要", minor: "次要", warning: "提示" };
const OPEN = ["registered", "dispatched", "accepted", "on_site", "on_hold", "reopened"];
const CANCELLABLE = ["registered", "dispatched", "accepted", "on_hold", "reopened"];
const REOPENABLE = ["resolved", "verified", "closed", "revisited"];
const CHECK_ZH = { pass: "合格", fail: "不合格", "n/a": "不适用" };

// What each step reads as, after the actor's name.
const STEP_ZH = {
  registered: "登记了工单",
  dispatched: "派单",
  accepted: "接单",
  on_site: "到达现场",
  on_hold: "挂起工单",
  resolved: "完成维修",
  verified: "验收通过",
  closed: "关闭工单",
  revisited: "完成回访",
  cancelled: "取消了工单",
  reopened: "重开工单（返修）",
  note: "记录",
  reassigned: "改派",
  changed: "修改了工单",
  file_deleted: "删除了附件",
};

const drawer = { id: null, order: null, ctx: null, seq: 0, opener: null };

function box() {
  let node = $("#drawer");
  if (!node) {
    node = el(
      "aside",
      { id: "drawer", class: "drawer", role: "dialog", "aria-modal": "true", "aria-labelledby": "drawer-title", hidden: true },
      el(
        "div",
        { class: "drawer-head" },
        el("h2", { id: "drawer-title" }, "工单详情"),
        el("button", { type: "button", class: "drawer-close", "aria-label": "关闭详情", onclick: closeDrawer }, "×"),
      ),
      el("div", { class: "drawer-body", id: "drawer-body" }),
    );
    document.body.append(node, el("div", { id: "drawer-shade", class: "drawer-shade", hidden: true, onclick: closeDrawer }));
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !node.hidden) closeDrawer();
    });
  }
  return node;
}

// A modal drawer: what is behind it can be neither tabbed to nor read out until it closes.
function setBehind(inert) {
  for (const part of document.querySelectorAll("body > header, body > main")) part.inert = inert;
}

export function drawerOrderId() {
  return drawer.id;
}

export function closeDrawer() {
  const node = $("#drawer");
  if (!node || node.hidden) return;
  node.hidden = true;
  $("#drawer-shade").hidden = true;
  document.body.classList.remove("drawer-open");
  setBehind(false);
  drawer.id = drawer.order = null;
  if (drawer.opener && document.contains(drawer.opener)) drawer.opener.focus();
}

// ctx: { people: {id: name}, zones: {id: name}, me, onChanged() }
export async function openDrawer(orderId, ctx) {
  const node = box();
  drawer.ctx = ctx;
  drawer.opener = document.activeElement;
  if (drawer.id !== orderId) $("#drawer-body").replaceChildren(el("p", { class: "muted" }, "加载中…"));
  drawer.id = orderId;
  node.hidden = false;
  $("#drawer-shade").hidden = false;
  document.body.classList.add("drawer-open");
  setBehind(true);
  node.dataset.order = orderId;
  await reloadDrawer();
  $(".drawer-close", node).focus();
}

// Reload what is shown; typed-in reasons and a chosen assignee stay (`keepFields`).
export async function reloadDrawer() {
  if (drawer.id === null) return;
  const mine = ++drawer.seq;
  const id = drawer.id;
  let order;
  let checklist;
  let costs;
  let reporters = [];
  try {
    [order, checklist, costs] = await Promise.all([
      api(`/api/v1/work-orders/${id}`),
      api(`/api/v1/work-orders/${id}/checklist`),
      loadCosts(id),
    ]);
    // 扫码报修: the residents behind the order, phones masked (whole only for 客服)
    if (order.source === "resident") reporters = await api(`/api/v1/work-orders/${id}/reporters`);
  } catch (err) {
    if (mine === drawer.seq && err.status !== 401) {
      $("#drawer-body").replaceChildren(el("p", { class: "error" }, `无法读取工单：${err.message}`));
    }
    return;
  }
  if (mine !== drawer.seq || drawer.id !== id) return;
  drawer.order = order;
  const body = $("#drawer-body");
  const fresh = el(
    "div",
    { class: "drawer-content", dataset: { status: order.status, etag: order.etag } },
    summary(order),
    fields(order),
    links(order),
    actions(order),
    order.revisits?.length ? revisitsBox(order.revisits) : null,
    reporters.length ? reportersBox(reporters) : null,
    checklist.length ? checklistBox(checklist) : null,
    costSection(order, costs, {
      people: drawer.ctx.people,
      me: drawer.ctx.me,
      editable: OPERATOR_ROLES.includes(drawer.ctx.me?.role),
      onChanged: async () => {
        drawer.ctx.onChanged?.();
        await reloadDrawer();
      },
    }),
    photos(order),
    history(order),
  );
  const stale = body.firstElementChild;
  const focused = document.activeElement;
  body.replaceChildren(fresh);
  keepFields(stale, fresh, focused);
  tickCountdowns(fresh);
  $("#drawer").dataset.status = order.status;
}

function person(id) {
  if (!id) return "未指派";
  return drawer.ctx.people[id] || id;
}

function summary(o) {
  $("#drawer-title").textContent = `${o.code || `#${o.id}`} ${o.title}`;
  const due = nextDue(o);
  return el(
    "div",
    { class: "drawer-summary" },
    el("span", { class: `badge prio-${o.priority}` }, o.priority_zh),
    el("span", { class: "state-chip" }, o.status_zh),
    due
      ? el("span", { class: "countdown", dataset: { due: due.at.toISOString(), label: LIMIT_ZH[due.key] } })
      : null,
    o.overdue.length ? el("span", { class: "tag bad" }, `${o.overdue.map(limitName).join("、")}已超时`) : null,
  );
}

function limitName(name) {
  return { respond: "响应", arrive: "到场", resolve: "完成", revisit: "回访" }[name] || name;
}

function dueText(due, met) {
  if (!due) return null;
  const when = fmtTime(due);
  if (met) {
    const late = new Date(met) - new Date(due);
    return late > 0 ? `${when}（${fmtTime(met)} 完成，超时 ${fmtSpan(late)}）` : `${when}（${fmtTime(met)} 已达成）`;
  }
  return when;
}

function fields(o) {
  const rows = [
    ["类别", o.category_zh],
    ["来源", SOURCE_ZH[o.source] || o.source],
    [
      "设备",
      o.asset
        ? el("a", { href: `/device?${new URLSearchParams({ site: o.site_id, asset: o.asset })}`, class: "device-link" }, o.asset_name || o.asset)
        : null,
    ],
    ["片区", o.zone ? drawer.ctx.zones[o.zone] || o.zone : null],
    ["位置", o.location],
    ["负责人", o.assignee_name || person(o.assignee)],
    ["报修时间", fmtTime(o.reported_at)],
    ["响应时限", dueText(o.respond_due, o.accepted_at)],
    ["到场时限", dueText(o.arrive_due, o.arrived_at)],
    ["完成时限", dueText(o.resolve_due, o.resolved_at)],
    ["回访时限", o.revisit_due ? dueText(o.revisit_due, o.revisited_at) : null],
    ["挂起原因", o.hold_reason],
    ["返修次数", o.reopen_count ? `${o.reopen_count} 次` : null],
    ["外部工单号", o.external_id],
    ["标签", o.tags.length ? o.tags.join("、") : null],
    ["说明", o.description],
  ];
  return el(
    "dl",
    { class: "fields" },
    rows.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
  );
}

function links(o) {
  const parts = [];
  if (o.alarm) {
    parts.push(
      el(
        "p",
        { class: "link-alarm" },
        "关联告警：",
        el("span", { class: `badge sev-${o.alarm.severity}` }, SEVERITY_ZH[o.alarm.severity] || o.alarm.severity),
        ` ${o.alarm.message} · ${fmtTime(o.alarm.raised_at)} 告警`,
        o.alarm.cleared_at ? `，${fmtTime(o.alarm.cleared_at)} 恢复` : "，尚未恢复",
      ),
    );
  }
  if (o.plan) {
    parts.push(
      el("p", { class: "link-plan" }, `保养计划：${o.plan.name}`, o.plan.due_at ? ` · 计划时间 ${fmtTime(o.plan.due_at)}` : ""),
    );
  }
  return parts.length ? el("div", { class: "links" }, parts) : null;
}

// --- actions ---------------------------------------------------------------------------------

const OPERATOR_ROLES = ["duty", "admin", "integration"];

async function act(label, path, json, success) {
  const o = drawer.order;
  try {
    const done = await api(`/api/v1/work-orders/${o.id}${path}`, {
      method: "POST",
      json,
      headers: { "If-Match": o.etag },
    });
    toast(success(done), "ok");
    drawer.ctx.onChanged?.();
    await reloadDrawer(true);
    return true;
  } catch (err) {
    if (err.status === 412) {
      toast(`工单 ${o.code || o.id} 已被他人修改，已刷新，请确认后再${label}`, "error");
      await reloadDrawer();
    } else if (err.status !== 401) {
      toast(`${label}失败：${err.message}`, "error");
    }
    return false;
  }
}

function reasonInput(key, placeholder) {
  return el("input", { class: "reason", dataset: { keep: key }, placeholder, maxlength: 2000, "aria-label": placeholder });
}

function needs(input, what) {
  const text = input.value.trim();
  if (!text) {
    input.focus();
    toast(`请填写${what}`, "error");
  }
  return text;
}

function actions(o) {
  if (!OPERATOR_ROLES.includes(drawer.ctx.me?.role)) return null;
  const code = o.code || `#${o.id}`;
  const groups = [];
  if (OPEN.includes(o.status)) groups.push(reassignBox(o));
  const step = (to, label, done) =>
    el(
      "button",
      { type: "button", class: "primary", dataset: { action: to }, onclick: () => act(label, "/transitions", { to, note: "" }, () => `${done}：${code}`) },
      label,
    );
  const buttons = [];
  if (o.status === "resolved") buttons.push(step("verified", "验收", "已验收"));
  if (o.status === "verified") buttons.push(step("closed", "关闭", "已关闭"));
  if (buttons.length) groups.push(el("div", { class: "action-row" }, buttons));
  if (o.status === "closed") groups.push(revisitForm(o, code));
  if (CANCELLABLE.includes(o.status)) groups.push(reasonAction("cancelled", "取消工单", "取消原因（必填）", code, "已取消"));
  if (REOPENABLE.includes(o.status)) groups.push(reasonAction("reopened", "重开", "重开原因（必填），如：故障再次出现", code, "已重开"));
  groups.push(noteBox(o));
  return el("section", { class: "drawer-actions", "aria-label": "操作" }, el("h3", {}, "操作"), groups);
}

// 回访评价: the three scores (required for a resident's report and a complaint), how the revisit
// was made and the resident's words; all three scores or none.
const SCORE_ITEMS = [
  ["response", "响应速度"],
  ["quality", "维修质量"],
  ["attitude", "服务态度"],
];
const RESIDENT_SOURCES = ["ticket", "resident"];

function revisitForm(o, code) {
  const scoreSelect = ([key, label]) =>
    el(
      "select",
      { dataset: { keep: `revisit-${key}`, score: key }, "aria-label": `${label}评分` },
      el("option", { value: "" }, `${label}…`),
      [5, 4, 3, 2, 1].map((n) => el("option", { value: String(n) }, `${label} ${n} 分`)),
    );
  const selects = SCORE_ITEMS.map(scoreSelect);
  const via = el(
    "select",
    { dataset: { keep: "revisit-via" }, "aria-label": "回访方式" },
    el("option", { value: "phone" }, "电话回访"),
    el("option", { value: "in_person" }, "上门回访"),
  );
  const comment = reasonInput("revisit-comment", "住户意见（选填）");
  const needed = RESIDENT_SOURCES.includes(o.source) || o.category === "complaint";
  return el(
    "div",
    { class: "action-row revisit", dataset: { form: "revisited" } },
    selects,
    via,
    comment,
    el(
      "button",
      {
        type: "button",
        class: "primary",
        dataset: { action: "revisited" },
        onclick: async () => {
          const chosen = selects.filter((x) => x.value);
          if ((needed || chosen.length) && chosen.length < selects.length) {
            (selects.find((x) => !x.value) || selects[0]).focus();
            toast("请填写响应速度、维修质量、服务态度三项评分", "error");
            return;
          }
          const body = { to: "revisited", note: "" };
          if (chosen.length) {
            body.revisit = { via: via.value, comment: comment.value.trim() };
            for (const x of selects) body.revisit[x.dataset.score] = Number(x.value);
          }
          const low = chosen.some((x) => Number(x.value) <= 2);
          const said = low ? "（有不满意项，已通知主管）" : "";
          if (await act("回访", "/transitions", body, () => `已回访：${code}${said}`)) {
            for (const x of selects) x.value = "";
            comment.value = "";
          }
        },
      },
      "回访",
    ),
  );
}

function reportersBox(reporters) {
  return el(
    "section",
    { class: "drawer-reporters" },
    el("h3", {}, `报修人（${reporters.length} 人）`),
    el(
      "ul",
      {},
      reporters.map((r) =>
        el(
          "li",
          {},
          `${r.at_local} ${r.phone || "电话已按期删除"}`,
          r.room ? ` ${r.room}` : "",
          r.joined ? el("span", { class: "muted small" }, " 同一问题追加报修") : null,
        ),
      ),
    ),
  );
}

function revisitsBox(revisits) {
  return el(
    "section",
    { class: "drawer-revisits" },
    el("h3", {}, "回访评价"),
    el(
      "ul",
      {},
      revisits.map((r) =>
        el(
          "li",
          { dataset: { round: r.round } },
          `${r.at_local} ${r.by_name || r.by}${r.via_zh ? ` ${r.via_zh}` : " 回访"}`,
          r.scores.length ? `：${r.scores.map((x) => `${x.item_zh} ${x.score} 分`).join("、")}` : "（未评分）",
          r.comment ? `；住户意见：${r.comment}` : "",
          " ",
          el("span", { class: `tag ${r.unsatisfied ? "bad" : r.satisfied ? "on" : ""}` }, r.outcome_zh),
          r.follow_up_code ? el("span", { class: "muted small" }, ` 跟进工单 ${r.follow_up_code}`) : null,
        ),
      ),
    ),
  );
}

function reasonAction(to, label, placeholder, code, done) {
  const reason = reasonInput(`reason-${to}`, placeholder);
  return el(
    "div",
    { class: "action-row", dataset: { form: to } },
    reason,
    el(
      "button",
      {
        type: "button",
        dataset: { action: to },
        onclick: async () => {
          const note = needs(reason, `${label}原因`);
          if (!note) return;
          if (await act(label, "/transitions", { to, note }, () => `${done}：${code}（${note}）`)) reason.value = "";
        },
      },
      label,
    ),
  );
}

function reassignBox(o) {
  const select = el("select", { dataset: { keep: "assignee" }, "aria-label": "改派给" }, el("option", { value: "" }, "改派给…"));
  const reason = reasonInput("reason-reassign", "改派原因（必填）");
  const hint = el("p", { class: "hint suggestion" }, "");
  const form = el(
    "div",
    { class: "action-row reassign", dataset: { form: "reassign" } },
    select,
    reason,
    el(
      "button",
      {
        type: "button",
        dataset: { action: "reassign" },
        onclick: async () => {
          if (!select.value) {
            select.focus();
            toast("请选择改派给谁", "error");
            return;
          }
          const note = needs(reason, "改派原因");
          if (!note) return;
          const to = select.value;
          if (await act("改派", "/assign", { assignee: to, note }, () => `已改派给 ${person(to)}：${o.code || o.id}`)) {
            reason.value = "";
          }
        },
      },
      "改派",
    ),
    hint,
  );
  fillCandidates(o, select, hint);
  return form;
}

// The zone's technicians and the one on duty, fewest open orders first (the API's suggestion);
// then everyone else of the site who is a technician.
async function fillCandidates(o, select, hint) {
  let got;
  try {
    got = await api(`/api/v1/work-orders/${o.id}/assignee-suggestions`);
  } catch {
    got = { suggested: null, candidates: [] };
  }
  const chosen = select.value || select.dataset.kept;
  const listed = new Set(got.candidates.map((c) => c.person));
  const others = Object.entries(drawer.ctx.technicians || {}).filter(([id]) => !listed.has(id) && id !== o.assignee);
  select.replaceChildren(
    el("option", { value: "" }, "改派给…"),
    ...got.candidates
      .filter((c) => !c.current)
      .map((c) =>
        el(
          "option",
          { value: c.person },
          `${c.name}（${c.open_orders} 张未完成${c.on_duty ? "，值班" : ""}${c.person === got.suggested ? "，建议" : ""}）`,
        ),
      ),
    ...others.map(([id, name]) => el("option", { value: id }, name)),
  );
  select.value = chosen || got.suggested || "";
  if (got.suggested) {
    const best = got.candidates.find((c) => c.person === got.suggested);
    hint.textContent = `建议改派给 ${best.name}：${best.zone_technician ? "本片区维修人员" : "值班维修人员"}，当前 ${best.open_orders} 张未完成工单，最少`;
  } else {
    hint.textContent = "本片区和值班的维修人员中没有其他人可改派";
  }
}

function noteBox(o) {
  const text = el("textarea", { rows: 2, dataset: { keep: "note" }, placeholder: "跟进记录，如：已电话联系业主", maxlength: 2000, "aria-label": "跟进记录" });
  return el(
    "div",
    { class: "action-row note", dataset: { form: "note" } },
    text,
    el(
      "button",
      {
        type: "button",
        dataset: { action: "note" },
        onclick: async () => {
          const note = needs(text, "跟进记录");
          if (!note) return;
          if (await act("记录", "/comments", { text: note }, () => `已记录：${o.code || o.id}`)) text.value = "";
        },
      },
      "添加记录",
    ),
  );
}

// --- checklist, photos, history -----------------------------------------------------------------

function checklistBox(items) {
  const done = items.filter((i) => i.result).length;
  return el(
    "section",
    { class: "drawer-checklist" },
    el("h3", {}, `检查表 ${done}/${items.length}`),
    el(
      "ul",
      {},
      items.map((i) =>
        el(
          "li",
          { dataset: { item: i.id } },
          i.text,
          " ",
          i.result
            ? el(
                "span",
                { class: `tag ${i.result === "pass" ? "on" : i.result === "fail" ? "bad" : ""}` },
                CHECK_ZH[i.result] || i.result,
                i.value !== null && i.value !== undefined ? ` ${i.value}${i.unit || ""}` : "",
              )
            : el("span", { class: "muted" }, "未检查"),
          i.recorded_by ? el("span", { class: "muted small" }, ` ${person(i.recorded_by)} ${fmtTime(i.recorded_at)}`) : null,
          i.note ? el("span", { class: "muted small" }, ` · ${i.note}`) : null,
        ),
      ),
    ),
  );
}

function photos(o) {
  const refs = o.transitions.flatMap((t) => t.attachments);
  if (!refs.length) return null;
  return el("section", { class: "drawer-photos" }, el("h3", {}, `照片和附件 ${refs.length}`), el("div", { class: "thumbs" }, refs.map((r) => thumb(o.id, r))));
}

// Attachments need the token, so they are fetched and shown from a blob URL.
export function thumb(orderId, ref) {
  const name = ref.split("/").pop();
  if (name.endsWith(".pdf")) return el("span", { class: "tag", dataset: { ref } }, "PDF");
  const img = el("img", { class: "thumb", alt: "工单照片", dataset: { ref } });
  api(`/api/v1/work-orders/${orderId}/attachments/${name}`)
    .then((blob) => {
      img.src = URL.createObjectURL(blob);
    })
    .catch(() => img.replaceWith(el("span", { class: "tag" }, "附件不可用")));
  return img;
}

// "改派 wang-gong → li-shifu：原因" as the API records it, with names.
function reassignText(note, name) {
  const m = note.match(/^改派 (\S+) → (\S+?)(?:：([\s\S]*))?$/);
  if (!m) return note;
  const from = m[1] === "—" ? "未指派" : name(m[1]);
  return `从 ${from} 改派给 ${name(m[2])}${m[3] ? `，原因：${m[3]}` : ""}`;
}

// One sentence per step, "12月1日 14:05 王工 接单", with names from the order's `actor_names`
// and the site's `people`.
export function stepSentence(o, t, people) {
  const name = (id) => (id ? o.actor_names?.[id] || people[id] || id : "未指派");
  const who = name(t.actor);
  const note = (t.note || "").trim();
  const reassigned = o.transitions.some((x) => x.to_status === "reassigned");
  let what;
  if (t.to_status === "reassigned") what = reassignText(note, name);
  else if (t.from_status === "on_hold" && OPEN.includes(t.to_status) && t.to_status !== "on_hold") {
    what = `恢复处理${note && note !== "恢复处理" ? `：${note}` : ""}`;
  } else if (t.to_status === "dispatched") {
    what = `${note === "自动派单" ? "自动派单" : "派单"}${reassigned ? "" : `给 ${name(o.assignee)}`}`;
    if (note && note !== "自动派单") what += `：${note}`;
  } else {
    what = STEP_ZH[t.to_status] || STATUS_ZH[t.to_status] || t.to_status;
    const trivial = !note || note === "登记" || (t.to_status === "registered" && note.length < 3);
    const kind = ["on_hold", "cancelled", "reopened"].includes(t.to_status) ? "原因" : "备注";
    if (!trivial) what += t.to_status === "note" ? `：${note}` : `，${kind}：${note}`;
  }
  return `${fmtTime(t.at)} ${who} ${what}`;
}

function history(o) {
  return el(
    "section",
    { class: "drawer-history" },
    el("h3", {}, "处理记录"),
    el(
      "ol",
      { class: "history" },
      [...o.transitions].reverse().map((t) => el("li", { dataset: { step: t.to_status } }, stepSentence(o, t, drawer.ctx.people))),
    ),
  );
}
