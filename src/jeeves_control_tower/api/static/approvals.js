// The inbox's approval views: edit-and-approve from an interrupt's response_schema, the history
// of one interrupt, and how an interrupt ended. Loaded after inbox.js, whose helpers (el, api,
// formatTime, kindLabel, cssId) it uses; as there, every value is inserted as text, never HTML.
"use strict";

const SCALAR_TYPES = ["string", "number", "integer", "boolean"];
const RESOLUTION_TEXT = {
  answered: "answered",
  cancelled: "cancelled",
  expired: "expired",
  auto_rejected: "rejected by its expiry",
  auto_approved: "approved by its expiry",
};
const EVENT_TEXT = {
  "interrupt.resolved": "ended",
  "interrupt.cancelled": "cancelled",
  "interrupt.expired": "expired",
  "interrupt.approval_consumed": "approval used by the agent",
  "interrupt.extended": "deadline extended",
  "interrupt.reminder": "reminder sent",
};

// How an ended interrupt ended, in words: "answered by alice via inbox", "rejected by its expiry".
function describeEnding(item) {
  const resolution = item.resolution || { resolved: "answered", cancelled: "cancelled", expired: "expired" }[item.status];
  const parts = [RESOLUTION_TEXT[resolution] || resolution || item.status];
  const response = item.response;
  if (resolution === "answered" && response) {
    if (response.responder_id) parts.push(`by ${response.responder_id}`);
    if (response.via) parts.push(`via ${response.via}`);
  }
  if (resolution === "cancelled" && item.data && item.data.cancel_reason) parts.push(`(${item.data.cancel_reason})`);
  return parts.join(" ");
}

// ---- Edit-and-approve -----------------------------------------------------------------------

// What a human may edit before approving: the fields of the proposed action (data.action) that
// the schema describes or the proposal holds, for strings, numbers, booleans, enums and lists of
// these. The answer carries the edit as data.action: what the agent verifies and executes.
function editableAction(item) {
  const schema = item.policy && item.policy.response_schema;
  if (!schema || typeof schema !== "object") return null;
  const proposed = (item.data || {}).action;
  if (!proposed || typeof proposed !== "object" || Array.isArray(proposed)) return null;
  const properties = ((schema.properties || {}).action || {}).properties || {};
  const names = [...new Set([...Object.keys(properties), ...Object.keys(proposed)])];
  const fields = names
    .map((name) => ({ name, spec: properties[name] || {}, value: proposed[name] }))
    .map((field) => ({ ...field, type: fieldType(field.spec, field.value) }))
    .filter((field) => field.type !== null);
  return fields.length ? { proposed, fields } : null;
}

function fieldType(spec, value) {
  if (Array.isArray(spec.enum) && spec.enum.every((v) => v === null || typeof v !== "object")) return "enum";
  const declared = Array.isArray(spec.type) ? spec.type.find((t) => t !== "null") : spec.type;
  const type = declared || (Array.isArray(value) ? "array" : typeof value);
  if (SCALAR_TYPES.includes(type)) return type;
  if (type === "array") {
    const items = (spec.items && spec.items.type) || "string";
    const list = Array.isArray(value) ? value : [];
    return SCALAR_TYPES.includes(items) && list.every((v) => v === null || typeof v !== "object") ? "array" : null;
  }
  return null;
}

function fieldInput(item, field) {
  const id = `edit-${cssId(item.id)}-${cssId(field.name)}`;
  const label = el("label", { for: id, text: field.name.replace(/_/g, " ") });
  let input;
  if (field.type === "enum") {
    input = el("select", { id, name: field.name },
      ...field.spec.enum.map((option) => el("option", { value: JSON.stringify(option), text: String(option) })));
    input.value = JSON.stringify(field.value === undefined ? field.spec.enum[0] : field.value);
  } else if (field.type === "boolean") {
    input = el("input", { id, name: field.name, type: "checkbox" });
    input.checked = field.value === true;
    return el("div", { class: "field check" }, input, label);
  } else if (field.type === "array") {
    input = el("textarea", { id, name: field.name, rows: 3, "aria-describedby": `${id}-hint` });
    input.value = (Array.isArray(field.value) ? field.value : []).join("\n");
    return el("div", { class: "field" }, label, input, el("p", { id: `${id}-hint`, class: "hint", text: "One per line." }));
  } else {
    const numeric = field.type === "number" || field.type === "integer";
    input = el("input", { id, name: field.name, type: numeric ? "number" : "text", step: field.type === "integer" ? "1" : numeric ? "any" : null });
    input.value = field.value === undefined || field.value === null ? "" : String(field.value);
  }
  return el("div", { class: "field" }, label, input);
}

function readField(form, field) {
  const input = form.elements.namedItem(field.name);
  if (field.type === "boolean") return input.checked;
  if (field.type === "enum") return JSON.parse(input.value);
  if (field.type === "array") {
    const lines = input.value.split("\n").map((line) => line.trim()).filter(Boolean);
    const itemType = (field.spec.items && field.spec.items.type) || "string";
    return itemType === "string" ? lines : lines.map(Number);
  }
  if (field.type === "number" || field.type === "integer") return input.value.trim() === "" ? null : Number(input.value);
  return input.value;
}

// A form of the action's fields, prefilled with the proposal; "Review changes" shows what
// differs, and only then may the edited action be approved. Returns null when nothing is editable.
function editForm(item, send, error, approve) {
  const editable = editableAction(item);
  if (!editable) return null;
  const form = el("form", { class: "edit", novalidate: true, "aria-label": "Edit the action before approving" });
  const diff = el("div", { class: "diff", role: "region", "aria-label": "Your changes", hidden: true });
  const review = el("button", { type: "submit", text: "Review changes" });
  form.append(
    el("p", { class: "hint", text: "Edit what the agent will do, then review your changes before approving." }),
    ...editable.fields.map((field) => fieldInput(item, field)),
    actions(review),
    diff,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const edited = { ...editable.proposed };
    const changes = [];
    for (const field of editable.fields) {
      const value = readField(form, field);
      if (JSON.stringify(value) !== JSON.stringify(field.value)) changes.push([field.name, field.value, value]);
      edited[field.name] = value;
    }
    if (!changes.length) return showCardError(error, "Nothing changed: approve the proposal as it is, or edit a field.");
    error.hidden = true;
    const data = { action: edited };
    diff.replaceChildren(
      el("h5", { text: "Your changes" }),
      el("ul", { class: "changes" }, ...changes.map(([name, before, after]) =>
        el("li", {},
          el("strong", { text: `${name}: ` }),
          el("del", { text: before === undefined ? "(none)" : JSON.stringify(before) }),
          " → ",
          el("ins", { text: JSON.stringify(after) })))),
      actions(el("button", { type: "button", class: "primary", text: "Approve with changes",
        onclick: (event) => send(approve(data), event.currentTarget) })),
    );
    diff.hidden = false;
    diff.querySelector("button").focus();
  });
  return form;
}

// ---- History of one interrupt ---------------------------------------------------------------

// A disclosure that reads the interrupt's journal when opened: every event, who and when.
function eventsPanel(item) {
  const list = el("ol", { class: "events" });
  const panel = el("details", { class: "events-panel" }, el("summary", { text: "History" }), list);
  panel.addEventListener("toggle", async () => {
    if (!panel.open || panel.dataset.loaded) return;
    list.replaceChildren(el("li", { class: "hint", text: "Loading…" }));
    try {
      const page = await api(`/v1/interrupts/${encodeURIComponent(item.id)}/history`);
      panel.dataset.loaded = "true";
      list.replaceChildren(...page.items.map(eventLine));
    } catch (err) {
      list.replaceChildren(el("li", { class: "error", text: `Could not load the history: ${err.message}` }));
    }
  });
  return panel;
}

function eventLine(event) {
  const interrupt = event.interrupt;
  let what = EVENT_TEXT[event.type];
  if (event.sequence === 1) {
    what = `raised${interrupt.created_by ? ` by ${interrupt.created_by}` : ""} for ${interrupt.user_id}`;
  } else if (event.type === "interrupt.resolved" || event.type === "interrupt.cancelled") {
    what = describeEnding(interrupt);
  } else if (event.type === "interrupt.extended" && interrupt.expires_at) {
    what = `deadline extended to ${formatTime(interrupt.expires_at)}`;
  }
  return el("li", { "data-type": event.type },
    el("time", { datetime: event.created_at, title: event.created_at, text: formatTime(event.created_at) }),
    " ",
    what || event.type);
}

// ---- Who waits on what (admins) ---------------------------------------------------------------

const AGE_TEXT = { under_1h: "under an hour", "1h_to_1d": "an hour to a day", "1d_to_7d": "a day to a week", over_7d: "over a week" };

async function loadWaiting() {
  const button = $("waiting-refresh");
  button.disabled = true;
  try {
    const summary = await api("/v1/pending/summary");
    $("waiting-total").textContent = `${summary.total} pending, counted ${formatTime(summary.at)}`;
    $("waiting-tables").replaceChildren(
      countTable("By kind", "Kind", summary.by_kind, kindLabel),
      countTable("By user", "User", summary.by_user, (name) => name),
      countTable("By age", "Waiting for", summary.by_age, (name) => AGE_TEXT[name] || name),
    );
    showGlobalError(null);
  } catch (err) {
    showGlobalError(`Could not load who waits: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

function countTable(caption, heading, counts, label) {
  const rows = Object.entries(counts || {});
  return el("table", { class: "counts" },
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: heading }), el("th", { scope: "col", text: "Pending" }))),
    el("tbody", {}, ...(rows.length ? rows : [["none", 0]]).map(([name, count]) =>
      el("tr", {}, el("th", { scope: "row", text: label(name) }), el("td", { text: String(count) })))));
}
