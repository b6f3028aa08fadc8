// 我的任务: a technician's open work orders in due order, on a phone. Each card opens to the
// steps (接单 / 到场 / 挂起 / 恢复 / 完成), the checklist, a note and photos. 完成 goes through a
// gate: every checklist item recorded or marked 不适用, a photo where the order needs one, and a
// confirmation. 用料 and 工时 (order_costs.js): the parts used, from the site's stock, and time
// beyond what 到场→完成 counts. 我的整改 (rectifications.js) sits above the orders. What is being
// typed survives the live updates that re-render the cards.
import {
  $,
  api,
  el,
  fmtTime,
  keepFields,
  LIMIT_ZH,
  listen,
  logout,
  nextDue,
  showLogin,
  takeToken,
  tickCountdowns,
  toast,
} from "/static/common.js";
import { loadCosts, taskCosts } from "/static/order_costs.js";
import { stepSentence, thumb } from "/static/order_drawer.js";
import { installQualityForms } from "/static/quality_forms.js";
import { installRectifications, loadRectifications } from "/static/rectifications.js";

const OPEN = ["registered", "dispatched", "accepted", "on_site", "on_hold", "reopened"];
const STEPS = {
  dispatched: [["accepted", "接单", "primary"]],
  reopened: [["accepted", "接单", "primary"]],
  accepted: [["on_site", "到场", "primary"]],
  on_site: [["resolved", "完成", "primary"]],
};
const HOLDABLE = ["registered", "dispatched", "accepted", "on_site", "reopened"];

const state = { open: new Set(), people: {}, assignee: null, seq: 0, gate: null, me: null };
const CHECK_ZH = { pass: "合格", fail: "不合格", "n/a": "不适用" };

async function loadTasks() {
  const statuses = OPEN.map((s) => `status=${s}`).join("&");
  const who = state.assignee ? `&assignee=${encodeURIComponent(state.assignee)}` : "";
  const page = await api(`/api/v1/work-orders?${statuses}${who}&limit=200`);
  const tasks = page.items.map((o) => ({ ...o, due: nextDue(o) }));
  tasks.sort((a, b) => (a.due?.at ?? Infinity) - (b.due?.at ?? Infinity) || a.id - b.id);
  const late = tasks.filter((t) => t.due && t.due.at < Date.now()).length;
  $("#summary").textContent = tasks.length
    ? `${tasks.length} 项待办${late ? `，${late} 项已超时` : ""}`
    : "暂无待办任务";
  const mine = ++state.seq;
  const before = new Map([...document.querySelectorAll("#task-list [data-task]")].map((li) => [li.dataset.task, li]));
  const cards = tasks.map(card);
  // an open card is filled before it replaces the old one, so nothing typed is lost meanwhile
  await Promise.all(cards.filter((li) => state.open.has(+li.dataset.task)).map((li) => fill(li, +li.dataset.task)));
  if (mine !== state.seq) return;
  const focused = document.activeElement;
  $("#task-list").replaceChildren(...cards);
  for (const li of cards) keepFields(before.get(li.dataset.task), li, focused);
  tickCountdowns($("#task-list"));
}

function card(t) {
  const due = t.due
    ? el("span", {
        class: "countdown",
        dataset: { due: t.due.at.toISOString(), label: LIMIT_ZH[t.due.key] },
      })
    : el("span", { class: "muted" }, t.status === "on_hold" ? "挂起中，计时暂停" : "无时限");
  const li = el(
    "li",
    { class: `task prio-${t.priority}`, dataset: { task: t.id, row: "", status: t.status } },
    el(
      "button",
      {
        class: "task-head",
        "aria-expanded": state.open.has(t.id) ? "true" : "false",
        onclick: () => toggle(li, t.id),
      },
      el(
        "span",
        { class: "line1" },
        el("span", { class: `badge prio-${t.priority}` }, t.priority_zh),
        el("span", { class: "status" }, t.status_zh),
        el("span", { class: "code" }, t.code || `#${t.id}`),
      ),
      el("span", { class: "title" }, t.title),
      el("span", { class: "line3" }, t.asset_name || "", " ", due),
    ),
    el("div", { class: "task-body", hidden: true }),
  );
  return li;
}

async function toggle(li, id) {
  if (state.open.has(id)) {
    state.open.delete(id);
    li.querySelector(".task-body").hidden = true;
    li.querySelector(".task-head").setAttribute("aria-expanded", "false");
    return;
  }
  state.open.add(id);
  await expand(li, id);
}

async function expand(li, id) {
  await fill(li, id);
}

async function fill(li, id) {
  const body = li.querySelector(".task-body");
  li.querySelector(".task-head").setAttribute("aria-expanded", "true");
  body.hidden = false;
  let order;
  let checklist;
  let costs;
  try {
    [order, checklist, costs] = await Promise.all([
      api(`/api/v1/work-orders/${id}`),
      api(`/api/v1/work-orders/${id}/checklist`),
      loadCosts(id),
    ]);
  } catch (err) {
    body.replaceChildren(el("p", { class: "error" }, `加载失败：${err.message}`));
    return;
  }
  const stepsBox = steps(order, checklist);
  body.replaceChildren(
    ...[
      order.description ? el("p", { class: "desc" }, order.description) : null,
      el(
        "p",
        { class: "muted small" },
        `报修 ${fmtTime(order.reported_at)}`,
        order.respond_due && !order.accepted_at ? ` · 响应时限 ${fmtTime(order.respond_due)}` : "",
        order.arrive_due && !order.arrived_at ? ` · 到场时限 ${fmtTime(order.arrive_due)}` : "",
        order.resolve_due ? ` · 完成时限 ${fmtTime(order.resolve_due)}` : "",
        order.hold_reason ? ` · 挂起原因：${order.hold_reason}` : "",
      ),
      stepsBox,
      checklist.length ? checklistBox(order, checklist) : null,
      ...taskCosts(order, costs, { me: state.me, people: state.people, onChanged: loadTasks }),
      noteBox(order),
      photoBox(order),
      history(order),
    ].filter(Boolean),
  );
  // a live update re-renders the card: a completion gate the technician had open stays open
  if (state.gate === id && order.status === "on_site") openGate(stepsBox, order, checklist, false);
  else if (state.gate === id) state.gate = null;
}

const DONE_ZH = { accepted: "已接单", on_site: "已到场", resolved: "已完成", on_hold: "已挂起" };

async function move(order, to, note = "") {
  if (state.gate === order.id) state.gate = null;
  try {
    await api(`/api/v1/work-orders/${order.id}/transitions`, {
      method: "POST",
      json: { to, note },
      headers: order.etag ? { "If-Match": order.etag } : {},
    });
    toast(`${DONE_ZH[to] || "已恢复"}：${order.title}`);
  } catch (err) {
    toast(err.status === 412 ? "工单已被他人修改，已刷新" : `操作失败：${err.message}`, "error");
  }
  await loadTasks();
}

function steps(order, checklist) {
  const box = el("div", { class: "steps" });
  for (const [to, label, cls] of STEPS[order.status] || []) {
    const onclick = to === "resolved" ? () => openGate(box, order, checklist) : () => move(order, to);
    box.append(el("button", { class: cls, dataset: { to }, onclick }, label));
  }
  if (order.status === "on_hold") {
    const held = [...order.transitions].reverse().find((t) => t.to_status === "on_hold");
    if (held && held.from_status) {
      box.append(
        el(
          "button",
          { class: "primary", dataset: { to: held.from_status }, onclick: () => move(order, held.from_status, "恢复处理") },
          "恢复",
        ),
      );
    }
  }
  if (HOLDABLE.includes(order.status)) {
    const reason = el("input", {
      class: "reason",
      placeholder: "挂起原因，如：等待配件",
      "aria-label": "挂起原因",
      maxlength: 300,
      dataset: { keep: "hold" },
    });
    box.append(
      el(
        "div",
        { class: "hold" },
        reason,
        el(
          "button",
          {
            dataset: { to: "on_hold" },
            onclick: () => {
              if (!reason.value.trim()) {
                reason.focus();
                toast("挂起需要填写原因", "error");
                return;
              }
              move(order, "on_hold", reason.value.trim());
            },
          },
          "挂起",
        ),
      ),
    );
  }
  return box;
}

// 完成 is refused until the checklist is complete (each item recorded, or 不适用 with a reason)
// and a photo is on an order that needs one; then it asks once more.
function photosOf(order) {
  return order.transitions.flatMap((t) => t.attachments).filter((ref) => !ref.endsWith(".pdf"));
}

function openGate(box, order, checklist, focus = true) {
  box.parentElement?.querySelector(":scope > .gate")?.remove();
  state.gate = order.id;
  const missing = checklist.filter((i) => !i.result);
  const needsPhoto = order.photo_required && !photosOf(order).length;
  const lines = [];
  if (checklist.length) {
    lines.push(
      missing.length
        ? el("li", { class: "missing" }, `检查表还有 ${missing.length} 项未检查：${missing.map((i) => i.text).join("、")}（不检查的项请标记「不适用」并写明原因）`)
        : el("li", { class: "ok" }, `检查表 ${checklist.length} 项已全部记录`),
    );
  }
  if (order.photo_required) {
    lines.push(
      needsPhoto
        ? el("li", { class: "missing" }, "此类工单完成前需上传现场照片")
        : el("li", { class: "ok" }, `已上传照片 ${photosOf(order).length} 张`),
    );
  }
  const ready = !missing.length && !needsPhoto;
  const gate = el(
    "div",
    { class: "gate", role: "alertdialog", "aria-label": "确认完成", dataset: { ready: String(ready) } },
    el("strong", {}, ready ? "确认维修已完成？" : "还不能完成"),
    lines.length ? el("ul", {}, lines) : null,
    el(
      "div",
      { class: "steps" },
      el(
        "button",
        { class: "primary", disabled: !ready, dataset: { confirm: "resolved" }, onclick: () => move(order, "resolved") },
        "确认完成",
      ),
      el(
        "button",
        {
          onclick: () => {
            state.gate = null;
            gate.remove();
          },
        },
        "返回",
      ),
    ),
  );
  box.after(gate);
  if (focus) (ready ? gate.querySelector("[data-confirm]") : gate.querySelector("button:last-child")).focus();
}

function checklistBox(order, items) {
  const done = items.filter((i) => i.result).length;
  return el(
    "div",
    { class: "checklist" },
    el("h3", {}, `检查表 ${done}/${items.length}`),
    el(
      "ul",
      {},
      items.map((item) => {
        const record = async (passed, value, extra = {}) => {
          try {
            const r = await api(`/api/v1/work-orders/${order.id}/checklist`, {
              method: "POST",
              json: { item_id: item.id, passed, value, ...extra },
            });
            toast(
              r.result === "pass"
                ? `合格：${item.text}`
                : r.result === "n/a"
                  ? `不适用：${item.text}`
                  : `不合格，已生成整改工单：${item.text}`,
            );
          } catch (err) {
            toast(`记录失败：${err.message}`, "error");
          }
          await loadTasks();
        };
        const result = item.result
          ? el(
              "span",
              { class: `tag ${item.result === "pass" ? "on" : item.result === "fail" ? "bad" : ""}` },
              CHECK_ZH[item.result] || item.result,
              item.value !== null && item.value !== undefined ? ` ${item.value}${item.unit || ""}` : "",
            )
          : null;
        let controls;
        if (item.measurement) {
          const range = [item.low, item.high].some((v) => v !== null)
            ? `${item.low ?? ""}–${item.high ?? ""}${item.unit || ""}`
            : item.unit || "";
          const input = el("input", {
            type: "number",
            step: "any",
            inputmode: "decimal",
            placeholder: range,
            "aria-label": `${item.text} 测量值`,
            dataset: { keep: `measure-${item.id}` },
          });
          controls = el(
            "span",
            { class: "measure" },
            input,
            el(
              "button",
              {
                onclick: () => {
                  const v = Number.parseFloat(input.value);
                  if (Number.isNaN(v)) {
                    toast("请填写测量值", "error");
                    return;
                  }
                  record(null, v);
                },
              },
              "记录",
            ),
          );
        } else {
          controls = el(
            "span",
            { class: "passfail" },
            el("button", { class: "pass", onclick: () => record(true, null) }, "合格"),
            el("button", { class: "fail", onclick: () => record(false, null) }, "不合格"),
          );
        }
        // 不适用: the item does not apply this time; the reason is asked for and recorded
        const naReason = el("input", {
          class: "reason",
          placeholder: "不适用原因",
          "aria-label": `${item.text} 不适用原因`,
          maxlength: 2000,
          dataset: { keep: `na-${item.id}` },
        });
        const na = el(
          "span",
          { class: "na-form" },
          naReason,
          el(
            "button",
            {
              class: "na",
              dataset: { na: item.id },
              onclick: () => {
                if (!naReason.value.trim()) {
                  naReason.focus();
                  toast("标记不适用需要写明原因", "error");
                  return;
                }
                record(null, null, { not_applicable: true, note: naReason.value.trim() });
              },
            },
            "不适用",
          ),
        );
        return el(
          "li",
          { dataset: { item: item.id, result: item.result || "" } },
          el("span", { class: "item-text" }, item.text),
          result,
          item.result ? null : controls,
          item.result ? null : na,
        );
      }),
    ),
  );
}

function noteBox(order) {
  const text = el("textarea", {
    rows: 2,
    placeholder: "跟进记录，如：已更换镇流器",
    "aria-label": "跟进记录",
    maxlength: 2000,
    dataset: { keep: "note" },
  });
  return el(
    "div",
    { class: "note" },
    text,
    el(
      "button",
      {
        onclick: async () => {
          if (!text.value.trim()) return;
          try {
            await api(`/api/v1/work-orders/${order.id}/comments`, {
              method: "POST",
              json: { text: text.value.trim() },
            });
            text.value = "";
            toast("已记录");
          } catch (err) {
            toast(`记录失败：${err.message}`, "error");
          }
          await loadTasks();
        },
      },
      "提交记录",
    ),
  );
}

function photoBox(order) {
  const fileName = el("span", { class: "file-name" }, "未选择");
  const input = el("input", {
    type: "file",
    accept: "image/jpeg,image/png,image/webp,application/pdf",
    capture: "environment",
    onchange: () => {
      fileName.textContent = input.files[0] ? input.files[0].name : "未选择";
    },
  });
  // kept whole across a re-render: the chosen file and its name stay together
  const pick = el("label", { class: "file-pick", dataset: { keep: "photo" } }, input, "拍照或选择照片", fileName);
  const caption = el("input", {
    class: "reason",
    placeholder: "照片说明（可选）",
    "aria-label": "照片说明",
    maxlength: 2000,
    dataset: { keep: "caption" },
  });
  const send = el(
    "button",
    {
      class: "upload",
      onclick: async () => {
        const file = input.files[0];
        if (!file) {
          toast("请先选择照片", "error");
          return;
        }
        if (file.size > 8 * 1024 * 1024) {
          toast("照片超过 8 MB，请压缩后再传", "error");
          return;
        }
        const form = new FormData();
        form.append("file", file);
        form.append("note", caption.value.trim());
        send.disabled = true;
        try {
          await api(`/api/v1/work-orders/${order.id}/attachments`, { method: "POST", form });
          toast(`照片已上传：${order.title}`);
          input.value = "";
          caption.value = "";
        } catch (err) {
          toast(`上传失败：${err.message}`, "error");
        }
        send.disabled = false;
        await loadTasks();
      },
    },
    "上传照片",
  );
  return el("div", { class: "photo" }, pick, caption, send);
}

function history(order) {
  const steps = order.transitions.slice(-6).reverse();
  return el(
    "ul",
    { class: "history" },
    steps.map((t) => el("li", {}, stepSentence(order, t, state.people), t.attachments.map((ref) => thumb(order.id, ref)))),
  );
}

async function main() {
  if (!takeToken("tasks")) {
    showLogin();
    return;
  }
  $("#logout").addEventListener("click", logout);
  try {
    const [me, sites] = await Promise.all([api("/api/v1/me"), api("/api/v1/sites")]);
    state.me = me;
    for (const site of sites) for (const p of site.people) state.people[p.id] = p.name;
    state.assignee = me.person ? null : new URLSearchParams(location.search).get("assignee");
    $("#who").textContent = me.person_name || me.name;
    // 记录问题 / 品质检查 for a token of one site; scoring an inspection is the duty room's
    if (sites.length === 1) {
      installQualityForms(sites[0], ["duty", "admin"].includes(me.role)).catch((err) =>
        toast(`质量表单加载失败：${err.message}`, "error"),
      );
      installRectifications(sites[0], me).catch((err) => toast(`整改加载失败：${err.message}`, "error"));
    }
  } catch (err) {
    if (err.status !== 401) toast(`加载失败：${err.message}`, "error");
    return;
  }
  let timer = null;
  const stream = $("#stream-state");
  listen(
    () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        loadTasks().catch(console.error);
        loadRectifications().catch(console.error);
      }, 250);
    },
    (s) => {
      stream.textContent = s === "live" ? "实时" : "重连中";
      stream.className = `dot ${s}`;
      document.body.dataset.stream = s;
      if (s === "live") {
        loadTasks().catch(console.error);
        loadRectifications().catch(console.error);
      }
    },
  );
  setInterval(() => tickCountdowns($("#task-list")), 1000);
}

main();
