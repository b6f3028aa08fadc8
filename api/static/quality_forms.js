// 物业质量监控 on the phone (我的任务): 记录问题 (a finding: where, type, severity, a photo or a
// short video, a note) and 品质检查 (a score sheet filled item by item, deductions with a photo
// each, the score shown as it is filled). Both go through the quality API; the server computes
// the real scores and opens a rectification per finding and per deduction.
import { $, api, el, toast } from "/static/common.js";

const SEVERITY = [
  ["general", "一般"],
  ["important", "重要"],
  ["emergency", "紧急"],
];
const PHOTO_MAX = 8 * 1024 * 1024;
const VIDEO_MAX = 50 * 1024 * 1024;

function select(id, options, label) {
  return el(
    "label",
    { class: "field" },
    label,
    el("select", { id }, options.map(([value, text]) => el("option", { value }, text))),
  );
}

function tooLarge(file) {
  const limit = file.type.startsWith("video/") ? VIDEO_MAX : PHOTO_MAX;
  return file.size > limit ? `${file.name} 超过 ${limit / 1024 / 1024} MB` : null;
}

async function upload(site, findingId, file) {
  const form = new FormData();
  form.append("file", file);
  return api(`/api/v1/sites/${encodeURIComponent(site)}/findings/${findingId}/photos`, { method: "POST", form });
}

// where: "place:<id>", "building:<name>" or "asset:<id>" -> the body's one location field
function where(value) {
  const [kind, ...rest] = value.split(":");
  return { [kind]: rest.join(":") };
}

function whereOptions(options) {
  return [
    ...options.places.map((p) => [`place:${p.id}`, `公共区域 · ${p.name}`]),
    ...options.buildings.map((b) => [`building:${b}`, `楼栋 · ${b}`]),
    ...options.assets.map((a) => [`asset:${a.id}`, `设备 · ${a.name}`]),
  ];
}

function findingForm(site, options) {
  const file = el("input", { id: "finding-file", type: "file", accept: "image/*,video/mp4,video/webm,video/quicktime" });
  const form = el(
    "form",
    {
      id: "finding-form",
      class: "quality-form",
      onsubmit: async (e) => {
        e.preventDefault();
        const picked = file.files[0];
        const problem = picked && tooLarge(picked);
        if (problem) {
          toast(problem, "error");
          return;
        }
        const floor = $("#finding-floor").value.trim();
        const body = {
          ...where($("#finding-where").value),
          type: $("#finding-type").value,
          severity: $("#finding-severity").value,
          note: $("#finding-note").value.trim(),
          ...(floor ? { floor } : {}),
        };
        const submit = form.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          const rect = await api(`/api/v1/sites/${encodeURIComponent(site)}/findings`, { method: "POST", json: body });
          if (picked) await upload(site, rect.finding_id, picked);
          $("#quality-result").textContent =
            `已记录：${rect.place.name} · ${rect.severity_zh}，整改责任人 ${rect.assignee_name || "—"}，期限 ${rect.deadline_local}`;
          form.reset();
        } catch (err) {
          toast(`提交失败：${err.message}`, "error");
        }
        submit.disabled = false;
      },
    },
    el("h2", {}, "记录问题"),
    select("finding-where", whereOptions(options), "位置"),
    el("label", { class: "field" }, "楼层（可不填）", el("input", { id: "finding-floor", maxlength: 20 })),
    select("finding-type", options.finding_types.map((t) => [t.id, t.name]), "问题类型"),
    select("finding-severity", SEVERITY, "严重程度"),
    el("label", { class: "field" }, "照片或短视频", file),
    el("label", { class: "field" }, "说明", el("textarea", { id: "finding-note", maxlength: 2000, rows: 3 })),
    el("button", { type: "submit", class: "primary" }, "提交"),
  );
  return form;
}

// the score as the server reckons it: an item loses its deductions up to its points; 不适用
// items leave the maximum
function tally(sheet, form) {
  let total = 0;
  let maximum = 0;
  for (const section of sheet.sections) {
    for (const item of section.items) {
      const na = form.querySelector(`[data-na="${item.id}"]`);
      if (na && na.checked) continue;
      let taken = 0;
      for (const rule of item.deductions) {
        const n = Number(form.querySelector(`[data-count="${item.id}/${rule.id}"]`).value || 0);
        taken += rule.points * n;
      }
      maximum += item.points;
      total += item.points - Math.min(item.points, taken);
    }
  }
  return { total, maximum };
}

function inspectionForm(site, options, sheets, zones) {
  let sheet = sheets[0];
  const items = el("div", { id: "inspection-items" });
  const score = el("p", { id: "inspection-score", class: "score" });
  const form = el("form", { id: "inspection-form", class: "quality-form" });

  const refresh = () => {
    const { total, maximum } = tally(sheet, form);
    score.textContent = `得分 ${Math.round(total * 100) / 100} / ${maximum}` +
      (maximum ? `（百分制 ${((total / maximum) * 100).toFixed(1)}）` : "");
  };
  const build = () => {
    items.replaceChildren(
      ...sheet.sections.map((section) =>
        el(
          "fieldset",
          { class: "section", dataset: { section: section.id } },
          el("legend", {}, section.name),
          section.items.map((item) =>
            el(
              "div",
              { class: "item", dataset: { item: item.id } },
              el("p", { class: "item-text" }, `${item.text}（${item.points} 分${item.mandatory ? "，必查" : ""}）`),
              item.mandatory
                ? null
                : el("label", { class: "na" }, el("input", { type: "checkbox", dataset: { na: item.id }, onchange: refresh }), "不适用"),
              item.deductions.map((rule) =>
                el(
                  "div",
                  { class: "rule" },
                  el("span", {}, `${rule.text}（每处 -${rule.points}）`),
                  el("input", {
                    type: "number",
                    min: 0,
                    max: rule.max_count,
                    value: 0,
                    inputmode: "numeric",
                    "aria-label": `${item.text} ${rule.text} 处数`,
                    dataset: { count: `${item.id}/${rule.id}` },
                    oninput: refresh,
                  }),
                  el("input", {
                    type: "file",
                    accept: "image/*,video/mp4,video/webm,video/quicktime",
                    "aria-label": `${rule.text} 照片`,
                    dataset: { photo: `${item.id}/${rule.id}` },
                  }),
                ),
              ),
            ),
          ),
        ),
      ),
    );
    refresh();
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const location = where($("#inspection-where").value);
    const results = [];
    const photos = [];
    for (const section of sheet.sections) {
      for (const item of section.items) {
        const na = form.querySelector(`[data-na="${item.id}"]`);
        const deductions = [];
        for (const rule of item.deductions) {
          const count = Number(form.querySelector(`[data-count="${item.id}/${rule.id}"]`).value || 0);
          if (!count || (na && na.checked)) continue;
          deductions.push({ rule: rule.id, count, ...location });
          photos.push(form.querySelector(`[data-photo="${item.id}/${rule.id}"]`).files[0] || null);
        }
        results.push({ item: item.id, not_applicable: Boolean(na && na.checked), deductions });
      }
    }
    const problem = photos.filter(Boolean).map(tooLarge).find(Boolean);
    if (problem) {
      toast(problem, "error");
      return;
    }
    const zone = $("#inspection-zone").value;
    const body = { sheet: sheet.id, results, note: $("#inspection-note").value.trim(), ...(zone ? { zone } : {}) };
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const made = await api(`/api/v1/sites/${encodeURIComponent(site)}/inspections`, { method: "POST", json: body });
      // the answer's deductions come in the order they were sent: each gets its photo
      await Promise.all(made.deductions.map((d, i) => (photos[i] ? upload(site, d.finding_id, photos[i]) : null)));
      $("#quality-result").textContent =
        `检查已提交：${made.sheet_name} 得分 ${made.total} / ${made.maximum}，扣分 ${made.deductions.length} 项已下发整改`;
      form.reset();
      build();
    } catch (err) {
      toast(`提交失败：${err.message}`, "error");
    }
    submit.disabled = false;
  });
  form.append(
    el("h2", {}, "品质检查"),
    el(
      "label",
      { class: "field" },
      "评分表",
      el(
        "select",
        {
          id: "inspection-sheet",
          onchange: (e) => {
            sheet = sheets.find((s) => s.id === e.target.value);
            build();
          },
        },
        sheets.map((s) => el("option", { value: s.id }, s.name)),
      ),
    ),
    select("inspection-zone", [["", "全项目"], ...zones.map((z) => [z.id, z.name])], "片区"),
    select("inspection-where", whereOptions(options), "扣分位置"),
    items,
    score,
    el("label", { class: "field" }, "备注", el("textarea", { id: "inspection-note", maxlength: 2000, rows: 2 })),
    el("button", { type: "submit", class: "primary" }, "提交检查"),
  );
  build();
  return form;
}

// The two buttons above the task list; `inspect`: the token may score an inspection (duty).
export async function installQualityForms(site, inspect) {
  const bar = $("#quality-actions");
  const holder = $("#quality-form");
  const options = await api(`/api/v1/sites/${encodeURIComponent(site.id)}/quality/form-options`);
  const sheets = inspect ? (await api(`/api/v1/sites/${encodeURIComponent(site.id)}/score-sheets`)).items : [];
  const show = (make) => {
    $("#quality-result").textContent = "";
    holder.replaceChildren(make());
    holder.hidden = false;
  };
  // replaceChildren writes a null as the text "null": only the buttons offered go in
  bar.replaceChildren(
    ...[
      el("button", { id: "new-finding", type: "button", onclick: () => show(() => findingForm(site.id, options)) }, "记录问题"),
      sheets.length
        ? el("button", { id: "new-inspection", type: "button", onclick: () => show(() => inspectionForm(site.id, options, sheets, site.zones)) }, "品质检查")
        : null,
    ].filter(Boolean),
  );
  bar.hidden = false;
  document.body.dataset.qualityForms = "ready";
}
