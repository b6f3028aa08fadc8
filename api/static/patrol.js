// 巡更签到 (`/patrol?site=<site>&point=<id>`): the page a point's QR label opens. It uses the
// technician page's token (a guard or technician signs in once on the phone), checks in with the
// server's time and the token's person, and shows what is left of the round and of today.
import { $, api, el, logout, showLogin, takeToken, toast } from "/static/common.js";

const params = new URLSearchParams(location.search);
const site = params.get("site") || "";
const point = params.get("point") || "";
const base = `/api/v1/sites/${encodeURIComponent(site)}/patrol`;

function pointName(day) {
  for (const r of day.rounds) for (const p of r.points) if (p.point === point) return p.name;
  return point;
}

// The rounds on now are those with points still to walk (the server's statuses, on its clock),
// and those the check-in just counted for.
function render(day, counted = []) {
  $("#point-name").textContent = pointName(day);
  const just = new Set(counted.map((c) => `${c.patrol} ${c.window_local}`));
  const current = day.rounds.filter((r) => r.left > 0 || just.has(`${r.patrol} ${r.window_local}`));
  $("#now-round").textContent = current.length
    ? current.map((r) => `${r.patrol_name} ${r.window_local}`).join("；")
    : "当前不在巡更时段内（签到仍会记录）";
  const left = current.flatMap((r) =>
    r.points.filter((p) => p.status === "open" || p.status === "overdue").map((p) => ({ r, p })),
  );
  $("#left-wrap").hidden = current.length === 0;
  $("#left").replaceChildren(
    ...(left.length
      ? left.map(({ r, p }) => el("li", { dataset: { point: p.point } }, `${p.name}（${r.patrol_name} ${p.status_zh}）`))
      : [el("li", { class: "muted" }, "本轮点位已全部签到")]),
  );
  $("#rounds").replaceChildren(
    ...day.rounds.map((r) =>
      el(
        "li",
        { dataset: { round: `${r.patrol}@${r.start}` } },
        el("strong", {}, `${r.window_local} ${r.patrol_name}`),
        el("span", { class: "muted" }, ` · ${r.who.join("、") || "未指定"}`),
        el(
          "div",
          { class: "points" },
          r.points.map((p) =>
            el(
              "span",
              { class: `pt ${p.status}`, title: p.checked_at_local ? `${p.checked_by} ${p.checked_at_local}` : "" },
              `${p.name} ${p.status_zh}`,
            ),
          ),
        ),
      ),
    ),
  );
}

async function checkIn(e) {
  e.preventDefault();
  const button = $("#checkin");
  button.disabled = true;
  try {
    const made = await api(`${base}/check-ins`, { method: "POST", json: { point, note: $("#note").value.trim() } });
    const counted = made.counted.length
      ? made.counted.map((c) => `${c.patrol_name} ${c.window_local} ${c.status_zh}`).join("；")
      : "本轮已签到过，此次仅作记录";
    const done = $("#done");
    done.textContent = `${made.person_name} 已于 ${made.checked_at_local} 在 ${made.point_name} 签到：${counted}`;
    done.hidden = false;
    $("#note").value = "";
    render(made.today, made.counted);
  } catch (err) {
    if (err.status !== 401) toast(`签到失败：${err.message}`, "error");
  }
  button.disabled = false;
}

async function main() {
  if (!takeToken("tasks")) {
    showLogin();
    return;
  }
  $("#logout").addEventListener("click", logout);
  if (!site || !point) {
    $("#point-name").textContent = "链接不完整：缺少项目或点位，请重新扫描标签";
    return;
  }
  try {
    const [me, day] = await Promise.all([
      api("/api/v1/me"),
      api(`${base}/rounds?point=${encodeURIComponent(point)}`),
    ]);
    $("#who").textContent = me.person_name || me.name;
    render(day);
    $("#checkin-form").hidden = false;
    $("#checkin-form").addEventListener("submit", checkIn);
    document.body.dataset.ready = "1";
  } catch (err) {
    if (err.status === 404) $("#point-name").textContent = `点位 ${point} 不在巡更计划中`;
    else if (err.status !== 401) toast(`加载失败：${err.message}`, "error");
  }
}

main();
