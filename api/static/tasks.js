// 我的任务: a technician's open work orders in due order, on a phone. Each card opens to the
// steps (接单 / 到场 / 挂起 / 恢复 / 完成), the checklist, a note and photos.
import {
  $,
  api,
  el,
  fmtTime,
  LIMIT_ZH,
  listen,
  logout,
  nextDue,
  showLogin,
  STATUS_ZH,
  takeToken,
  tickCountdowns,
  toast,
} from "/static/common.js";

const OPEN = ["registered", "dispatched", "accepted", "on_site", "on_hold", "reopened"];
const STEPS = {
  dispatched: [["accepted", "接单", "primary"]],
  reopened: [["accepted", "接单", "primary"]],
  accepted: [["on_site", "到场", "primary"]],
  on_site: [["resolved", "完成", "primary"]],
};
const HOLDABLE = ["registered", "dispatched", "accepted", "on_site", "reopened"];

const state = { open: new Set(), people: {}, assignee: null };

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
  $("#task-list").replaceChildren(...tasks.map(card));
  tickCountdowns($("#task-list"));
  for (const id of state.open) {
    const li = $(`[data-task="${id}"]`);
    if (li) await expand(li, id);
  }
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
  const body = li.querySelector(".task-body");
  li.querySelector(".task-head").setAttribute("aria-expanded", "true");
  body.hidden = false;
  let order;
  let checklist;
  try {
    [order, checklist] = await Promise.all([
      api(`/api/v1/work-orders/${id}`),
      api(`/api/v1/work-orders/${id}/checklist`),
    ]);
  } catch (err) {
    body.replaceChildren(el("p", { class: "error" }, `加载失败：${err.message}`));
    return;
  }
  body.replaceChildren(
    ...[
      order.description ? el("p", { class: "desc" }, order.description) : null,
      el(
        "p",
        { class: "muted small" },
        `报修 ${fmtTime(order.reported_at)}`,
        order.resolve_due ? ` · 完成时限 ${fmtTime(order.resolve_due)}` : "",
        order.hold_reason ? ` · 挂起原因：${order.hold_reason}` : "",
      ),
      steps(order),
      checklist.length ? checklistBox(order, checklist) : null,
      noteBox(order),
      photoBox(order),
      history(order),
    ].filter(Boolean),
  );
}

async function move(order, to, note = "") {
  try {
    await api(`/api/v1/work-orders/${order.id}/transitions`, {
      method: "POST",
      json: { to, note },
      headers: order.etag ? { "If-Match": order.etag } : {},
    });
    toast("已更新");
  } catch (err) {
    toast(err.status === 412 ? "工单已被他人修改，已刷新" : `操作失败：${err.message}`, "error");
  }
  await loadTasks();
}

function steps(order) {
  const box = el("div", { class: "steps" });
  for (const [to, label, cls] of STEPS[order.status] || []) {
    box.append(el("button", { class: cls, dataset: { to }, onclick: () => move(order, to) }, label));
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
    const reason = el("input", { class: "reason", placeholder: "挂起原因，如：等待配件", maxlength: 2000 });
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
        const record = async (passed, value) => {
          try {
            const r = await api(`/api/v1/work-orders/${order.id}/checklist`, {
              method: "POST",
              json: { item_id: item.id, passed, value },
            });
            toast(r.result === "pass" ? `合格：${item.text}` : `不合格，已生成整改工单：${item.text}`);
          } catch (err) {
            toast(`记录失败：${err.message}`, "error");
          }
          await loadTasks();
        };
        const result = item.result
          ? el(
              "span",
              { class: `tag ${item.result === "pass" ? "on" : "bad"}` },
              item.result === "pass" ? "合格" : "不合格",
              item.value !== null && item.value !== undefined ? ` ${item.value}${item.unit || ""}` : "",
            )
          : null;
        let controls;
        if (item.measurement) {
          const range = [item.low, item.high].some((v) => v !== null)
            ? `${item.low ?? ""}–${item.high ?? ""}${item.unit || ""}`
            : item.unit || "";
          const input = el("input", { type: "number", step: "any", inputmode: "decimal", placeholder: range });
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
        return el("li", { dataset: { item: item.id } }, el("span", { class: "item-text" }, item.text), result, controls);
      }),
    ),
  );
}

function noteBox(order) {
  const text = el("textarea", { rows: 2, placeholder: "跟进记录，如：已更换镇流器", maxlength: 2000 });
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
              json: { note: text.value.trim() },
            });
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
  const pick = el("label", { class: "file-pick" }, input, "拍照或选择照片", fileName);
  const caption = el("input", { class: "reason", placeholder: "照片说明（可选）", maxlength: 2000 });
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
          toast("照片已上传");
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
    steps.map((t) =>
      el(
        "li",
        {},
        `${fmtTime(t.at)} ${state.people[t.actor] || (t.actor === "system" ? "系统" : t.actor)}：${STATUS_ZH[t.to_status] || t.to_status}`,
        t.note ? ` · ${t.note}` : "",
        t.attachments.map((ref) => thumb(order.id, ref)),
      ),
    ),
  );
}

// Attachments need the token, so they are fetched and shown from a blob URL.
function thumb(orderId, ref) {
  const name = ref.split("/").pop();
  const img = el("img", { class: "thumb", alt: "附件", dataset: { ref } });
  if (name.endsWith(".pdf")) return el("span", { class: "tag", dataset: { ref } }, "PDF");
  api(`/api/v1/work-orders/${orderId}/attachments/${name}`)
    .then((blob) => {
      img.src = URL.createObjectURL(blob);
    })
    .catch(() => img.replaceWith(el("span", { class: "tag" }, "附件不可用")));
  return img;
}

async function main() {
  if (!takeToken()) {
    showLogin();
    return;
  }
  $("#logout").addEventListener("click", logout);
  try {
    const [me, sites] = await Promise.all([api("/api/v1/me"), api("/api/v1/sites")]);
    for (const site of sites) for (const p of site.people) state.people[p.id] = p.name;
    state.assignee = me.person ? null : new URLSearchParams(location.search).get("assignee");
    $("#who").textContent = me.person_name || me.name;
  } catch (err) {
    if (err.status !== 401) toast(`加载失败：${err.message}`, "error");
    return;
  }
  let timer = null;
  const stream = $("#stream-state");
  listen(
    () => {
      clearTimeout(timer);
      timer = setTimeout(() => loadTasks().catch(console.error), 250);
    },
    (s) => {
      stream.textContent = s === "live" ? "实时" : "重连中";
      stream.className = `dot ${s}`;
      document.body.dataset.stream = s;
      if (s === "live") loadTasks().catch(console.error);
    },
  );
  setInterval(() => tickCountdowns($("#task-list")), 1000);
}

main();
