// 报修进度 (/track/<token>): the resident's own order, 催单 and 回访评价. The token in the address
// is the only key; the page shows nothing of any other resident or of staff but a surname.
import { $, el } from "/static/common.js";

const token = decodeURIComponent(location.pathname.split("/").pop() || "");
const base = `/api/v1/public/track/${encodeURIComponent(token)}`;

function chinese(body, fallback) {
  const text = (body && body.detail) || fallback;
  return String(text).replace(/\s*\([^()]*\)\s*$/, "");
}

function render(t) {
  $("#title").textContent = `${t.title}${t.code ? ` · ${t.code}` : ""}`;
  $("#status").textContent = t.status_zh;
  const facts = [`报修时间 ${t.reported_at_local}`];
  if (t.resolve_due_local && !["resolved", "verified", "closed", "revisited"].includes(t.status)) {
    facts.push(`承诺 ${t.resolve_due_local} 前完成`);
  }
  if (t.reporters > 1) facts.push(`共 ${t.reporters} 位住户报修`);
  if (t.phone) facts.push(`联系电话 ${t.phone}`);
  $("#facts").textContent = facts.join(" · ");
  $("#steps").replaceChildren(
    ...t.steps.map((s) => el("li", {}, s.label, el("time", {}, s.at_local))),
  );
  $("#progress").hidden = false;
  const open = !["resolved", "verified", "closed", "revisited", "cancelled"].includes(t.status);
  $("#remind-card").hidden = !open;
  $("#remind").disabled = !t.can_remind;
  $("#remind-text").textContent = t.can_remind
    ? "催单会通知维修师傅和片区主管，每 4 小时可催一次。"
    : t.remind_allowed_at_local
      ? `已催单，${t.remind_allowed_at_local} 后可再次催单。`
      : "";
  $("#revisit").hidden = !t.can_revisit;
  $("#thanks").hidden = !t.revisited;
}

async function load() {
  const r = await fetch(base);
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    $("#title").textContent = "无法查看";
    $("#problem").textContent = chinese(body, "链接无效");
    $("#problem").hidden = false;
    return;
  }
  render(body);
}

async function remind() {
  $("#remind").disabled = true;
  const r = await fetch(`${base}/reminders`, { method: "POST" });
  const body = await r.json().catch(() => null);
  await load();
  $("#remind-text").textContent = r.ok
    ? `已催单，已通知 ${body.notified} 位负责人；${body.next_allowed_local} 后可再次催单。`
    : chinese(body, "催单失败，请稍后再试");
}

async function revisit(event) {
  event.preventDefault();
  const error = $("#revisit-error");
  error.hidden = true;
  const json = {
    response: Number($("#response").value),
    quality: Number($("#quality").value),
    attitude: Number($("#attitude").value),
    comment: $("#comment").value,
  };
  const r = await fetch(`${base}/revisit`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(json),
  });
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    error.textContent = chinese(body, "提交失败，请稍后再试");
    error.hidden = false;
    return;
  }
  render(body);
}

for (const id of ["response", "quality", "attitude"]) {
  const select = $(`#${id}`);
  select.append(el("option", { value: "" }, "请选择"));
  for (const n of [5, 4, 3, 2, 1]) select.append(el("option", { value: n }, `${n} 分`));
}
$("#remind").addEventListener("click", remind);
$("#revisit").addEventListener("submit", revisit);
load();
