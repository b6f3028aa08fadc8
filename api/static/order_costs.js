// 费用 of a work order: the duty room's drawer section (parts, labour, extra costs, the total and
// 有偿维修, with forms to add and remove) and the phone's 用料 / 工时 on a task card. Both read
// GET …/costs and the parts lines of the order's detail, and re-render from the event stream;
// what is being typed (data-keep) and the part being picked (kept here, by order) survive that.
//
// Adding and removing send no If-Match: neither rewrites what another client may have changed
// (a line or an entry is added beside the others, or removed by its own id), so a parallel change
// by someone else must not refuse it. What the API refuses (not enough stock, an order already
// completed, another's labour) is shown in its own words.
import { api, el, fmtDay, fmtHourIn, fmtTime, fmtYuan, localToday, toFen, toast, withoutEnglish } from "/static/common.js";

const OPEN = ["registered", "dispatched", "accepted", "on_site", "on_hold", "reopened"];
const QUANTITY = /^\d{1,7}(\.\d{1,3})?$/;
const MONEY = /^\d{1,7}(\.\d{1,2})?$/;

export function loadCosts(orderId) {
  return api(`/api/v1/work-orders/${orderId}/costs`);
}

// "1 小时 15 分钟" from minutes (the time on site comes with a tenth of a minute; shown whole).
export function fmtMinutes(minutes) {
  const m = Math.round(Number(minutes));
  if (m < 60) return `${m} 分钟`;
  const rest = m % 60;
  return `${Math.floor(m / 60)} 小时${rest ? ` ${rest} 分钟` : ""}`;
}

function failed(what, err) {
  if (err.status !== 401) toast(`${what}失败：${withoutEnglish(err.message)}`, "error");
}

// What a remove button does: DELETE, say so (or why not), and show the order as it is now.
function deleting(ctx, path, done, what) {
  return async () => {
    try {
      await send(path, "DELETE");
      toast(done, "ok");
    } catch (err) {
      failed(what, err);
    }
    await ctx.onChanged();
  };
}

// A removal asks once more on the same button, so a slip of the thumb removes nothing. The
// question stays a few seconds, also across a re-render from the stream (kept by `key`).
const ARMED_MS = 4000;
const armed = new Map(); // key → when it was asked

function removeButton(label, what, key, run) {
  const asked = () => Date.now() - (armed.get(key) || 0) < ARMED_MS;
  const button = el("button", { type: "button", class: "cost-remove", "aria-label": `${label}${what}` }, label);
  const show = () => {
    button.dataset.armed = String(asked());
    button.textContent = asked() ? `确认${label}？` : label;
  };
  show();
  button.addEventListener("click", async () => {
    if (!asked()) {
      armed.set(key, Date.now());
      show();
      setTimeout(show, ARMED_MS);
      return;
    }
    armed.delete(key);
    button.disabled = true;
    await run();
  });
  return button;
}

function lineName(line) {
  return `${line.part_name}${line.spec ? `（${line.spec}）` : ""}`;
}

async function send(path, method, json) {
  return api(path, { method, json });
}

// --- the part picker: search the site's parts, choose one with its stock, give a quantity -----

const picks = new Map(); // order id → { query, items, chosen, store, error }

function memo(orderId) {
  if (!picks.has(orderId)) picks.set(orderId, { query: "", items: null, chosen: null, error: "" });
  return picks.get(orderId);
}

function stockText(part) {
  return part.stores.length > 1
    ? part.stores.map((s) => `${s.store_name} ${s.available}`).join(" · ")
    : `可用 ${part.available} ${part.unit}`;
}

function partPicker(order, onChanged) {
  const m = memo(order.id);
  const box = el("div", { class: "part-picker", dataset: { picker: order.id } });
  const search = el("input", {
    type: "search",
    class: "part-search",
    placeholder: "搜索备件名称或编号",
    "aria-label": "搜索备件",
    maxlength: 100,
    autocomplete: "off",
    dataset: { keep: "cost-part-q" },
    value: m.query,
  });
  let timer = null;
  const run = () => {
    clearTimeout(timer);
    timer = setTimeout(() => find(order, search.value.trim(), onChanged), 250);
  };
  search.addEventListener("input", run);
  search.addEventListener("focus", () => {
    if (m.items === null) find(order, search.value.trim(), onChanged);
  });
  box.append(search, el("div", { class: "part-found" }), el("div", { class: "part-chosen" }));
  paint(box, order, onChanged);
  return box;
}

async function find(order, query, onChanged) {
  const m = memo(order.id);
  m.query = query;
  const params = new URLSearchParams({ limit: "20" });
  if (query) params.set("q", query);
  let page;
  try {
    page = await api(`/api/v1/sites/${encodeURIComponent(order.site_id)}/parts?${params}`);
  } catch (err) {
    failed("查询备件", err);
    return;
  }
  if (m.query !== query) return; // a later search has been typed meanwhile
  m.items = page.items;
  const box = document.querySelector(`[data-picker="${order.id}"]`);
  if (box) {
    paint(box, order, onChanged);
    box.dataset.answered = query; // what the results shown were found by
  }
}

// Fills the live picker from what is kept for the order (the results, the part chosen).
function paint(box, order, onChanged) {
  const m = memo(order.id);
  const found = box.querySelector(".part-found");
  if (m.items === null) found.replaceChildren();
  else if (!m.items.length) found.replaceChildren(el("p", { class: "muted small" }, m.query ? `没有名称或编号含「${m.query}」的备件` : "本项目还没有备件"));
  else {
    found.replaceChildren(
      el(
        "ul",
        { class: "part-results", "aria-label": "备件" },
        m.items.map((p) =>
          el(
            "li",
            {},
            el(
              "button",
              {
                type: "button",
                class: `part-option${m.chosen?.code === p.code ? " chosen" : ""}`,
                dataset: { part: p.code },
                "aria-pressed": m.chosen?.code === p.code ? "true" : "false",
                onclick: () => {
                  m.chosen = p;
                  m.error = "";
                  paint(box, order, onChanged);
                  box.querySelector("[data-keep=cost-part-qty]")?.focus();
                },
              },
              el("span", { class: "part-name" }, p.name, p.spec ? el("span", { class: "muted" }, ` ${p.spec}`) : null),
              el(
                "span",
                { class: `part-stock${Number(p.available) > 0 ? "" : " none"}` },
                Number(p.available) > 0 ? stockText(p) : "无库存",
                ` · ${fmtYuan(p.unit_price)}/${p.unit}`,
              ),
            ),
          ),
        ),
      ),
    );
  }
  const chosen = box.querySelector(".part-chosen");
  if (!m.chosen) {
    delete chosen.dataset.chosen;
    chosen.replaceChildren(m.error ? el("p", { class: "error", role: "alert" }, m.error) : "");
    return;
  }
  const p = m.chosen;
  // a late search answer repaints the picker: what was typed for the same part stays
  const before = chosen.dataset.chosen === p.code ? chosen : null;
  const typed = before?.querySelector("[data-keep=cost-part-qty]")?.value || "";
  const store = before?.querySelector("[data-keep=cost-part-store]")?.value || "";
  chosen.dataset.chosen = p.code;
  const stores = el(
    "select",
    { "aria-label": "领用仓库", dataset: { keep: "cost-part-store" } },
    p.stores.map((s) => el("option", { value: s.store }, `${s.store_name}（可用 ${s.available} ${p.unit}）`)),
  );
  stores.value = store || (p.stores.find((s) => Number(s.available) > 0) || p.stores[0] || {}).store || "";
  const qty = el("input", {
    class: "qty",
    inputmode: "decimal",
    placeholder: "数量",
    "aria-label": `${p.name}数量（${p.unit}）`,
    maxlength: 12,
    dataset: { keep: "cost-part-qty" },
    value: typed,
  });
  const add = el(
    "button",
    {
      type: "button",
      class: "primary",
      dataset: { act: "add-part" },
      onclick: async () => {
        const q = qty.value.trim();
        if (!QUANTITY.test(q) || Number(q) <= 0) {
          qty.focus();
          toast(`请填写${p.name}的数量（大于 0，最多三位小数）`, "error");
          return;
        }
        add.disabled = true;
        try {
          await send(`/api/v1/work-orders/${order.id}/parts`, "POST", { part: p.code, store: stores.value || null, quantity: q });
          picks.delete(order.id);
          // the picker on the page now (a re-render may have replaced this one) starts afresh
          const live = document.querySelector(`[data-picker="${order.id}"]`) || box;
          for (const field of live.querySelectorAll("[data-keep=cost-part-q], [data-keep=cost-part-qty]")) field.value = "";
          toast(`已添加备件：${p.name} ${q} ${p.unit}`, "ok");
          await onChanged();
        } catch (err) {
          add.disabled = false;
          if (err.status === 401) return;
          // kept by the order and shown beside the form, also after a re-render
          m.error = withoutEnglish(err.message);
          const live = document.querySelector(`[data-picker="${order.id}"] .part-error`);
          if (live) live.textContent = m.error;
          failed("添加备件", err);
        }
      },
    },
    "添加备件",
  );
  chosen.replaceChildren(
    el("p", { class: "part-pick-line" }, `已选 ${p.name}${p.spec ? `（${p.spec}）` : ""} · 单价 ${fmtYuan(p.unit_price)}/${p.unit}`),
    el(
      "div",
      { class: "action-row part-add" },
      p.stores.length > 1 ? stores : el("span", { class: "muted small" }, p.stores[0] ? `${p.stores[0].store_name}可用 ${p.stores[0].available} ${p.unit}` : ""),
      qty,
      el("span", { class: "unit" }, p.unit),
      add,
      el(
        "button",
        {
          type: "button",
          onclick: () => {
            m.chosen = null;
            m.error = "";
            paint(box, order, onChanged);
          },
        },
        "换一个",
      ),
    ),
    el("p", { class: "error part-error", role: "alert" }, m.error),
  );
}

// --- the duty room's 费用 section ------------------------------------------------------------

// ctx: { people: {id: name}, me, editable, onChanged() }
export function costSection(order, costs, ctx) {
  const open = OPEN.includes(order.status);
  const lines = order.parts || [];
  const reservedFen = lines.filter((l) => l.state === "reserved").reduce((sum, l) => sum + toFen(l.amount), 0);
  return el(
    "section",
    { class: "drawer-costs", dataset: { total: costs.total } },
    el("h3", {}, "费用"),
    el(
      "p",
      { class: "cost-total" },
      el("strong", {}, `合计 ${fmtYuan(costs.total)}`),
      el(
        "span",
        { class: "muted" },
        `人工 ${fmtYuan(costs.labour_cost)} · 材料 ${fmtYuan(costs.parts_cost)} · 其他 ${fmtYuan(costs.extras_cost)}`,
        costs.labour_hours ? ` · 工时 ${costs.labour_hours} 小时` : "",
      ),
      reservedFen ? el("span", { class: "muted small cost-reserved" }, `另有预留备件 ${fmtYuan(null, { fen: reservedFen })}，完成时计入材料费`) : null,
    ),
    paidRepair(order, costs, ctx),
    partsTable(order, lines, ctx, open),
    ctx.editable && open ? partPicker(order, ctx.onChanged) : null,
    labourTable(order, costs, ctx),
    ctx.editable ? labourForm(order, ctx) : null,
    extrasTable(order, costs, ctx),
    ctx.editable ? extraForm(order, ctx) : null,
  );
}

function table(cls, heads, rows, empty) {
  if (!rows.length) return el("p", { class: "muted small" }, empty);
  return el(
    "table",
    { class: `table cost-table ${cls}` },
    el("thead", {}, el("tr", {}, heads.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
}

function cell(label, ...content) {
  return el("td", { dataset: { label } }, ...content);
}

function partsTable(order, lines, ctx, open) {
  const rows = lines.map((l) =>
    el(
      "tr",
      { dataset: { line: l.id, state: l.state } },
      cell("名称", l.part_name),
      cell("规格", l.spec || "—"),
      cell("数量", l.quantity),
      cell("单位", l.unit),
      cell("单价", fmtYuan(l.unit_price)),
      cell("金额", el("span", { class: l.state === "returned" ? "struck" : "" }, fmtYuan(l.amount))),
      cell("状态", el("span", { class: `tag line-${l.state}` }, l.state_zh), el("span", { class: "muted small" }, ` ${l.added_by_name} ${fmtTime(l.added_at)}`)),
      el(
        "td",
        { class: "actions" },
        ctx.editable && open && l.state === "reserved"
          ? removeButton("移除", lineName(l), `line-${l.id}`, deleting(ctx, `/api/v1/work-orders/${order.id}/parts/${l.id}`, `已移除备件：${l.part_name}，预留已退回`, "移除备件"))
          : null,
      ),
    ),
  );
  return el(
    "div",
    { class: "cost-block cost-parts" },
    el("h4", {}, `备件 ${lines.length ? `${lines.length} 项` : ""}`),
    table("parts", ["名称", "规格", "数量", "单位", "单价", "金额", "状态", ""], rows, "未使用备件"),
  );
}

// The labour rows: each stretch on site (现场计时, from the steps) and each entry, by day.
function labourRows(costs) {
  const auto = costs.on_site.map((s, i) => ({ auto: true, key: `${s.arrived_at}`, i, ...s }));
  const manual = costs.entries.map((e) => ({ auto: false, key: e.created_at, ...e }));
  return [...auto, ...manual].sort((a, b) => a.work_date.localeCompare(b.work_date) || (a.auto === b.auto ? 0 : a.auto ? -1 : 1) || a.key.localeCompare(b.key));
}

function ownEntry(ctx, entry) {
  return ctx.me?.role !== "technician" || entry.person === ctx.me.person;
}

function labourTable(order, costs, ctx) {
  const rows = labourRows(costs).map((r) =>
    el(
      "tr",
      r.auto ? { dataset: { onSite: r.i } } : { dataset: { labour: r.id } },
      cell("技术员", r.person_name || ctx.people[r.person] || r.person),
      cell("日期", fmtDay(r.work_date)),
      cell("工时", fmtMinutes(r.minutes)),
      cell("费率", `${fmtYuan(r.rate)}/小时`),
      cell("金额", fmtYuan(r.cost)),
      cell(
        "说明",
        r.auto
          ? el("span", {}, el("span", { class: "tag auto" }, "现场计时"), ` 到场 ${fmtHourIn(r.arrived_at)}–${fmtHourIn(r.left_at)}`)
          : el("span", {}, r.note || "人工登记", el("span", { class: "muted small" }, `（${r.created_by_name}登记）`)),
      ),
      el(
        "td",
        { class: "actions" },
        !r.auto && ctx.editable && ownEntry(ctx, r)
          ? removeButton("删除", `${r.person_name || r.person}的工时`, `labour-${r.id}`, deleting(ctx, `/api/v1/work-orders/${order.id}/labour/${r.id}`, `已删除工时：${r.person_name || r.person} ${fmtMinutes(r.minutes)}`, "删除工时"))
          : null,
      ),
    ),
  );
  return el(
    "div",
    { class: "cost-block cost-labour" },
    el("h4", {}, "人工"),
    table("labour", ["技术员", "日期", "工时", "费率", "金额", "说明", ""], rows, "尚无工时：到场后自动计时，也可人工登记"),
  );
}

function minutesInput() {
  return el("input", { type: "number", class: "minutes", min: 1, max: 1440, step: 1, inputmode: "numeric", placeholder: "分钟", "aria-label": "工时（分钟）", dataset: { keep: "cost-labour-minutes" } });
}

function dateInput() {
  const today = localToday();
  return el("input", { type: "date", class: "work-date", value: today, max: today, "aria-label": "作业日期", dataset: { keep: "cost-labour-date" } });
}

// Checks the form and records the entry; true when the API has it.
async function addLabour(order, { person, date, minutes, note }, name) {
  const m = Number(minutes.value);
  if (!Number.isInteger(m) || m < 1 || m > 1440) {
    minutes.focus();
    toast("工时请填写 1 到 1440 之间的整数分钟", "error");
    return false;
  }
  if (!date.value) {
    date.focus();
    toast("请选择作业日期", "error");
    return false;
  }
  const body = { minutes: m, work_date: date.value, note: note.value.trim() };
  if (person) body.person = person;
  try {
    await send(`/api/v1/work-orders/${order.id}/labour`, "POST", body);
  } catch (err) {
    failed("登记工时", err);
    return false;
  }
  toast(`已登记工时：${name} ${fmtMinutes(m)}`, "ok");
  minutes.value = "";
  note.value = "";
  return true;
}

function labourForm(order, ctx) {
  const people = el(
    "select",
    { "aria-label": "作业人员", dataset: { keep: "cost-labour-person" } },
    Object.entries(ctx.people).map(([id, name]) => el("option", { value: id }, name)),
  );
  people.value = order.assignee || Object.keys(ctx.people)[0] || "";
  const date = dateInput();
  const minutes = minutesInput();
  const note = el("input", { class: "reason", placeholder: "工作内容（选填）", "aria-label": "工作内容", maxlength: 500, dataset: { keep: "cost-labour-note" } });
  return el(
    "div",
    { class: "action-row cost-form", dataset: { form: "labour" } },
    people,
    date,
    minutes,
    note,
    el(
      "button",
      {
        type: "button",
        dataset: { act: "add-labour" },
        onclick: async () => {
          if (!people.value) {
            people.focus();
            toast("请选择作业人员", "error");
            return;
          }
          if (await addLabour(order, { person: people.value, date, minutes, note }, ctx.people[people.value] || people.value)) await ctx.onChanged();
        },
      },
      "登记工时",
    ),
  );
}

function extrasTable(order, costs, ctx) {
  const rows = costs.extras.map((x) =>
    el(
      "tr",
      { dataset: { extra: x.id } },
      cell("说明", x.description),
      cell("金额", fmtYuan(x.amount)),
      cell("登记", el("span", { class: "muted small" }, `${x.created_by_name} ${fmtTime(x.created_at)}`)),
      el(
        "td",
        { class: "actions" },
        ctx.editable
          ? removeButton("删除", x.description, `extra-${x.id}`, deleting(ctx, `/api/v1/work-orders/${order.id}/extra-costs/${x.id}`, `已删除费用：${x.description}`, "删除费用"))
          : null,
      ),
    ),
  );
  return el("div", { class: "cost-block cost-extras" }, el("h4", {}, "其他费用"), table("extras", ["说明", "金额", "登记", ""], rows, "无其他费用"));
}

function moneyInput(key, label) {
  return el("input", { class: "money", inputmode: "decimal", placeholder: `${label}（元）`, "aria-label": `${label}（元）`, maxlength: 11, dataset: { keep: key } });
}

function readMoney(input, label) {
  const v = input.value.trim();
  if (!MONEY.test(v)) {
    input.focus();
    toast(`${label}请填写金额，如 200 或 35.50`, "error");
    return null;
  }
  return v;
}

function extraForm(order, ctx) {
  const description = el("input", { class: "reason", placeholder: "费用说明，如：高空作业车租赁", "aria-label": "费用说明", maxlength: 200, dataset: { keep: "cost-extra-desc" } });
  const amount = moneyInput("cost-extra-amount", "金额");
  return el(
    "div",
    { class: "action-row cost-form", dataset: { form: "extra" } },
    description,
    amount,
    el(
      "button",
      {
        type: "button",
        dataset: { act: "add-extra" },
        onclick: async () => {
          const what = description.value.trim();
          if (!what) {
            description.focus();
            toast("请填写费用说明", "error");
            return;
          }
          const value = readMoney(amount, "其他费用");
          if (value === null) return;
          try {
            await send(`/api/v1/work-orders/${order.id}/extra-costs`, "POST", { description: what, amount: value });
          } catch (err) {
            failed("添加费用", err);
            return;
          }
          toast(`已添加费用：${what} ${fmtYuan(value)}`, "ok");
          description.value = "";
          amount.value = "";
          await ctx.onChanged();
        },
      },
      "添加费用",
    ),
  );
}

// 有偿维修: what the resident is charged and whether it is paid; the duty room sets both. Its
// form folds away, and stays open across a re-render while it is being filled in.
const paidOpen = new Set(); // order ids

function paidRepair(order, costs, ctx) {
  const pr = costs.paid_repair;
  const shown = pr
    ? el(
        "p",
        { class: "paid-repair", dataset: { paid: String(pr.paid) } },
        `有偿维修：向住户收取 ${fmtYuan(pr.quoted)} · `,
        el("span", { class: `tag ${pr.paid ? "on" : "bad"}` }, pr.paid ? "已收款" : "未收款"),
        pr.paid && pr.paid_at ? ` ${fmtTime(pr.paid_at)}` : "",
        pr.note ? el("span", { class: "muted" }, ` · ${pr.note}`) : null,
      )
    : null;
  if (!ctx.editable) return shown;
  const quoted = moneyInput("cost-paid-quoted", "收费金额");
  if (pr) quoted.value = pr.quoted;
  const paid = el(
    "select",
    { "aria-label": "收款情况", dataset: { keep: "cost-paid-paid" } },
    el("option", { value: "false" }, "未收款"),
    el("option", { value: "true" }, "已收款"),
  );
  paid.value = String(Boolean(pr?.paid));
  const note = el("input", { class: "reason", placeholder: "收费项目（选填）", "aria-label": "收费项目", maxlength: 500, dataset: { keep: "cost-paid-note" } });
  if (pr) note.value = pr.note;
  const save = async () => {
    const value = readMoney(quoted, "收费金额");
    if (value === null) return;
    try {
      await send(`/api/v1/work-orders/${order.id}/paid-repair`, "PUT", { quoted: value, paid: paid.value === "true", note: note.value.trim() });
    } catch (err) {
      failed("保存有偿维修", err);
      return;
    }
    toast(`有偿维修：向住户收取 ${fmtYuan(value)}${paid.value === "true" ? "，已收款" : ""}`, "ok");
    paidOpen.delete(order.id);
    await ctx.onChanged();
  };
  return el(
    "div",
    { class: "cost-block cost-paid" },
    shown || el("p", { class: "muted small" }, "免费维修（不向住户收费）"),
    el(
      "details",
      {
        class: "paid-edit",
        open: paidOpen.has(order.id),
        ontoggle: (e) => (e.target.open ? paidOpen.add(order.id) : paidOpen.delete(order.id)),
      },
      el("summary", {}, pr ? "修改有偿维修" : "设为有偿维修"),
      el(
        "div",
        { class: "action-row cost-form", dataset: { form: "paid-repair" } },
        quoted,
        paid,
        note,
        el("button", { type: "button", dataset: { act: "paid-repair" }, onclick: save }, "保存"),
        pr
          ? removeButton("取消有偿", "维修", `paid-${order.id}`, deleting(ctx, `/api/v1/work-orders/${order.id}/paid-repair`, "已取消有偿维修", "取消有偿维修"))
          : null,
      ),
    ),
  );
}

// --- the phone's 用料 and 工时 ----------------------------------------------------------------

// ctx: { me, people: {id: name}, onChanged() }
export function taskCosts(order, costs, ctx) {
  const open = OPEN.includes(order.status);
  const lines = (order.parts || []).filter((l) => l.state !== "returned");
  const mine = ctx.me?.person;
  const used = el(
    "div",
    { class: "task-costs task-parts" },
    el("h3", {}, `用料${lines.length ? ` ${lines.length} 项` : ""}`),
    lines.length
      ? el(
          "ul",
          { class: "cost-list" },
          lines.map((l) =>
            el(
              "li",
              { dataset: { line: l.id, state: l.state } },
              el("span", { class: "what" }, lineName(l)),
              el("span", { class: "qty" }, `${l.quantity} ${l.unit}`),
              el("span", { class: `tag line-${l.state}` }, l.state_zh),
              open && l.state === "reserved"
                ? removeButton("移除", lineName(l), `line-${l.id}`, deleting(ctx, `/api/v1/work-orders/${order.id}/parts/${l.id}`, `已移除：${l.part_name}`, "移除备件"))
                : null,
            ),
          ),
        )
      : el("p", { class: "muted small" }, "尚未登记用料"),
    open ? partPicker(order, ctx.onChanged) : null,
  );
  const rows = labourRows(costs);
  const date = dateInput();
  const minutes = minutesInput();
  const note = el("input", { class: "reason", placeholder: "工作内容（选填），如：取梯子", "aria-label": "工作内容", maxlength: 500, dataset: { keep: "cost-labour-note" } });
  const who = mine || order.assignee;
  const time = el(
    "div",
    { class: "task-costs task-labour" },
    el("h3", {}, "工时"),
    rows.length
      ? el(
          "ul",
          { class: "cost-list" },
          rows.map((r) =>
            el(
              "li",
              r.auto ? { dataset: { onSite: r.i } } : { dataset: { labour: r.id } },
              el(
                "span",
                { class: "what" },
                r.person === mine ? "" : `${r.person_name || ctx.people[r.person] || r.person} `,
                fmtDay(r.work_date),
                r.auto ? ` 到场 ${fmtHourIn(r.arrived_at)}–${fmtHourIn(r.left_at)}` : r.note ? ` ${r.note}` : "",
              ),
              el("span", { class: "qty" }, fmtMinutes(r.minutes)),
              r.auto ? el("span", { class: "tag auto" }, "现场计时") : el("span", { class: "tag" }, "人工登记"),
              !r.auto && (!mine || r.person === mine)
                ? removeButton("删除", "这条工时", `labour-${r.id}`, deleting(ctx, `/api/v1/work-orders/${order.id}/labour/${r.id}`, `已删除工时 ${fmtMinutes(r.minutes)}`, "删除工时"))
                : null,
            ),
          ),
        )
      : el("p", { class: "muted small" }, "到场后自动计时；另外的工时可在下面登记"),
    who
      ? el(
          "div",
          { class: "labour-add", dataset: { form: "labour" } },
          date,
          minutes,
          note,
          el(
            "button",
            {
              type: "button",
              class: "primary",
              dataset: { act: "add-labour" },
              onclick: async () => {
                // a technician's token records their own time; a duty token records the assignee's
                const person = mine ? null : who;
                if (await addLabour(order, { person, date, minutes, note }, ctx.people[who] || "")) await ctx.onChanged();
              },
            },
            "登记工时",
          ),
        )
      : null,
  );
  return [used, time];
}
