// 扫码报修: the resident's phone page, opened from a QR code (/report?site=&asset=|building=|place=).
// No account: the answer carries the resident's own tracking link.
import { $, el } from "/static/common.js";

const params = new URLSearchParams(location.search);
const site = params.get("site") || "";
const spot = new URLSearchParams();
for (const key of ["asset", "building", "place"]) {
  if (params.get(key)) spot.set(key, params.get(key));
}

function detailOf(body, fallback) {
  // problem JSON: `detail` is "中文 (english)"; a resident reads the Chinese part
  const text = (body && body.detail) || fallback;
  return String(text).replace(/\s*\([^()]*\)\s*$/, "");
}

function fail(node, text) {
  node.textContent = text;
  node.hidden = false;
}

async function load() {
  const r = await fetch(`/api/v1/public/sites/${encodeURIComponent(site)}/spot?${spot}`);
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    $("#where").textContent = "无法识别位置";
    fail($("#problem"), detailOf(body, "二维码无效"));
    return;
  }
  $("#where").textContent = `${body.site_name} · ${body.place}`;
  $("#photo-hint").textContent = `（可选，最多 ${body.max_photos} 张，每张不超过 ${body.max_photo_mb} MB）`;
  const kind = $("#kind");
  kind.append(el("option", { value: "" }, "请选择"));
  for (const k of body.kinds) kind.append(el("option", { value: k.id }, k.label));
  $("#report").hidden = false;
}

async function submit(event) {
  event.preventDefault();
  const error = $("#form-error");
  error.hidden = true;
  const photos = $("#photos").files;
  if (photos.length > 3) return fail(error, "最多上传 3 张照片");
  if (!$("#kind").value) return fail(error, "请选择报修类别");
  const form = new FormData();
  for (const [key, value] of spot) form.set(key, value);
  form.set("kind", $("#kind").value);
  form.set("description", $("#description").value);
  form.set("phone", $("#phone").value);
  if ($("#room").value.trim()) form.set("room", $("#room").value.trim());
  for (const photo of photos) form.append("photos", photo);
  $("#submit").disabled = true;
  try {
    const r = await fetch(`/api/v1/public/sites/${encodeURIComponent(site)}/reports`, {
      method: "POST",
      body: form,
    });
    const body = await r.json().catch(() => null);
    if (!r.ok) {
      const fields = (body && body.errors) || [];
      const first = fields.length ? String(fields[0].msg).replace(/\s*\([^()]*\)\s*$/, "") : null;
      return fail(error, first || detailOf(body, `提交失败（${r.status}）`));
    }
    $("#report").hidden = true;
    $("#done-text").textContent = body.joined
      ? `已有住户报修同一问题，您已加入该工单（共 ${body.reporters} 人报修），我们会尽快处理。`
      : `报修已提交，工单号 ${body.code}。`;
    const link = $("#track-link");
    link.href = body.tracking_url;
    link.textContent = new URL(body.tracking_url, location.href).href;
    $("#done").hidden = false;
  } catch {
    fail(error, "网络异常，请稍后重试");
  } finally {
    $("#submit").disabled = false;
  }
}

$("#report").addEventListener("submit", submit);
load();
