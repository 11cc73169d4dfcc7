// The jeeves inbox: a responder's pending interrupts, answered in place, kept live by SSE.
// Plain browser JavaScript, no build step, no dependencies. Everything shown comes from the
// API as data and is inserted with textContent, never as HTML, so agent text cannot inject markup.
"use strict";

const TOKEN_KEY = "jeeves.token";
const HISTORY_STATUSES = ["resolved", "cancelled", "expired"];
const HISTORY_PAGE = 50;
const KIND_LABELS = {
  clarification: "Clarification",
  confirmation: "Confirmation",
  agent_review: "Agent review",
  checkpoint: "Checkpoint",
  resource_exhausted: "Resource exhausted",
  timeout: "Timeout",
  system_error: "System error",
};

const state = {
  token: null,
  me: null,
  pending: new Map(), // id -> interrupt, only status "pending"
  gone: new Set(), // ids seen leaving pending: a replayed creation event must not revive them
  history: new Map(), // id -> interrupt in a terminal status
  historyLoaded: false,
  historyCursors: {}, // status -> next_cursor of its last fetched page (null: no more)
  // The journal position the pending list was read at: the stream follows from there, so it
  // brings every change since the list and replays nothing from before it.
  journalPosition: null,
  view: "pending",
  stream: null, // AbortController of the event stream
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ---- HTTP ---------------------------------------------------------------------------------

class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || null;
    this.problem = problem;
  }
}

async function api(path, options = {}) {
  // X-Jeeves-Via: an answer sent from here is recorded as the inbox's (History shows it).
  const headers = { Accept: "application/json", Authorization: `Bearer ${state.token}`, "X-Jeeves-Via": "inbox" };
  const init = { method: options.method || "GET", headers };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiProblem(0, { detail: "The server cannot be reached. Check your connection and retry." });
  }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json().catch(() => ({})) : {};
  if (!response.ok) throw new ApiProblem(response.status, body);
  return body;
}

// ---- Sign in / out ------------------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  try {
    state.me = await api("/v1/me");
  } catch (err) {
    state.token = null;
    // Forget the token only when the server refused it, not when it was unreachable.
    if (err.status === 401 || err.status === 403) sessionStorage.removeItem(TOKEN_KEY);
    throw err;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("who-name").textContent = `${state.me.user_id} (${state.me.role})`;
  $("show-waiting").hidden = state.me.role !== "admin"; // the summary spans every user: admins only
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  showView("pending");
  await loadPending();
  connectEvents();
}

function signOut() {
  if (state.stream) state.stream.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  Object.assign(state, {
    token: null, me: null, stream: null, historyLoaded: false, view: "pending", journalPosition: null,
  });
  state.pending.clear();
  state.gone.clear();
  state.history.clear();
  state.historyCursors = {};
  $("sessions").replaceChildren();
  $("history-list").replaceChildren();
  $("nav").hidden = true;
  $("who").hidden = true;
  $("pending").hidden = true;
  $("history").hidden = true;
  $("waiting").hidden = true;
  $("show-waiting").hidden = true;
  $("sign-in").hidden = false;
  setLive("offline");
  $("token").value = "";
  $("token").focus();
}

// ---- Data ---------------------------------------------------------------------------------

// Every page of a listing, and the journal position before its first page was read.
async function listAll(query, maxPages) {
  const items = [];
  let cursor = null;
  let position = null;
  for (let page = 0; page < maxPages; page += 1) {
    const params = new URLSearchParams({ ...query, limit: "200" });
    if (cursor) params.set("cursor", cursor);
    const result = await api(`/v1/interrupts?${params}`);
    if (page === 0) position = result.journal_position;
    items.push(...result.items);
    cursor = result.next_cursor;
    if (!cursor) break;
  }
  return { items, position };
}

async function loadPending() {
  try {
    const { items, position } = await listAll({ status: "pending" }, 10);
    if (state.journalPosition === null) state.journalPosition = position;
    state.pending.clear();
    for (const item of items) if (!state.gone.has(item.id)) state.pending.set(item.id, item);
    renderPending();
    showGlobalError(null);
  } catch (err) {
    showGlobalError(`Could not load your inbox: ${err.message}`);
  }
}

// History is paged per status (the API lists one status at a time); "Load older" asks each
// status that has more for its next page, and the merged list is sorted by when each ended.
async function loadHistory(older = false) {
  const button = $("history-more");
  button.disabled = true;
  try {
    const wanted = HISTORY_STATUSES.filter((status) => !older || state.historyCursors[status]);
    const pages = await Promise.all(
      wanted.map((status) => {
        const params = new URLSearchParams({ status, limit: String(HISTORY_PAGE) });
        if (older) params.set("cursor", state.historyCursors[status]);
        return api(`/v1/interrupts?${params}`);
      }),
    );
    wanted.forEach((status, index) => {
      for (const item of pages[index].items) state.history.set(item.id, item);
      // A first-page reload must not forget that older pages were already fetched.
      if (older || !state.historyLoaded) state.historyCursors[status] = pages[index].next_cursor;
    });
    state.historyLoaded = true;
    renderHistory();
    showGlobalError(null);
  } catch (err) {
    showGlobalError(`Could not load the history: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

// One journal event: a creation adds a card, a terminal event removes it and feeds History.
function applyEvent(event) {
  const item = event.interrupt;
  if (!item || !item.id) return;
  if (item.status === "pending") {
    if (state.gone.has(item.id)) return;
    if (state.pending.has(item.id)) {
      // Still pending but changed (its deadline extended): the card shows the new state.
      state.pending.set(item.id, item);
      scheduleRender();
      return;
    }
    state.pending.set(item.id, item);
    announce(`New ${kindLabel(item.kind).toLowerCase()}: ${item.question || item.message || item.id}`);
  } else {
    forget(item, true);
  }
  scheduleRender();
}

// Move an interrupt out of pending (answered here, or by anyone else: the stream tells us).
function forget(item, fromStream) {
  state.gone.add(item.id);
  const wasPending = state.pending.delete(item.id);
  if (state.historyLoaded || !fromStream) state.history.set(item.id, item);
  if (wasPending && fromStream) announce(`${kindLabel(item.kind)} ${describeStatus(item.status)}.`);
}

// ---- Live updates -------------------------------------------------------------------------

// The journal stream, read with fetch rather than EventSource: the token goes in a header (not
// in a URL that servers log), and every event type is seen, including custom kinds' names.
// Reconnects with Last-Event-ID, so an outage loses nothing; stops for good on 401/403.
function connectEvents() {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  readStream(controller.signal).catch((err) => console.error("event stream", err));
}

async function readStream(signal) {
  // From the pending list's position (null: it is unknown, and the stream starts now with a
  // snapshot of what is pending, which applyEvent takes like any other event).
  let lastId = state.journalPosition === null ? null : String(state.journalPosition);
  let delay = 1000;
  while (!signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const response = await fetch("/v1/events", { headers, signal, cache: "no-store" });
      if (response.status === 401 || response.status === 403) {
        const problem = await response.json().catch(() => ({}));
        setLive("offline");
        showGlobalError(`Live updates stopped: ${problem.detail || response.statusText}`);
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      setLive("live");
      delay = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = (buffer + value).replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const id = dispatchBlock(buffer.slice(0, end));
          if (id !== null) lastId = id;
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
    }
    if (signal.aborted) return;
    setLive("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 15000);
  }
}

// One SSE message ("id:", "event:", "data:" lines; ":" lines are comments). Returns its id.
function dispatchBlock(block) {
  let id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  if (data.length) {
    try {
      applyEvent(JSON.parse(data.join("\n")));
    } catch (err) {
      console.error("bad event", err, data);
    }
  }
  return id;
}

function setLive(text) {
  const node = $("live-state");
  node.textContent = text;
  node.dataset.state = text;
}

// ---- Rendering: pending -------------------------------------------------------------------

let renderQueued = false;
function scheduleRender() {
  // A replayed journal may deliver many events at once: render once per frame.
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderPending();
    if (state.historyLoaded) renderHistory();
  });
}

function byNewest(a, b) {
  return (b.created_at || "").localeCompare(a.created_at || "") || b.id.localeCompare(a.id);
}

function renderPending() {
  const container = $("sessions");
  const items = [...state.pending.values()].sort(byNewest);
  $("pending-count").textContent = String(items.length);
  // The count in the tab's title: a cue that work is waiting while the tab is in the background.
  document.title = items.length ? `(${items.length}) jeeves inbox` : "jeeves inbox";
  $("pending-empty").hidden = items.length > 0;
  // Sessions ordered by their newest interrupt; cards newest first within each.
  const sessions = new Map();
  for (const item of items) {
    if (!sessions.has(item.session_id)) sessions.set(item.session_id, []);
    sessions.get(item.session_id).push(item);
  }
  // Existing nodes are kept and moved only when out of place: a node detached from the page
  // loses focus, caret and selection, which would disrupt someone typing an answer.
  const cards = new Map();
  for (const node of container.querySelectorAll("article.card")) cards.set(node.dataset.id, node);
  const groups = new Map();
  for (const node of container.querySelectorAll("section.session")) groups.set(node.dataset.session, node);
  const wanted = [];
  for (const [sessionId, list] of sessions) {
    const group = groups.get(sessionId) || renderSession(sessionId);
    placeChildren(group, list.map((item) => refreshed(cards.get(item.id), item) || renderCard(item)), 1);
    wanted.push(group);
  }
  placeChildren(container, wanted, 0);
  tick();
}

// A card already on the page, brought up to date where an interrupt can change while pending:
// its deadline (extended). Kept, not rebuilt, so an answer being typed in it survives.
function refreshed(card, item) {
  if (!card) return null;
  const countdown = card.querySelector(".countdown[data-expires]");
  if (countdown && item.expires_at) countdown.dataset.expires = item.expires_at;
  return card;
}

function renderSession(sessionId) {
  const headingId = `session-${cssId(sessionId)}`;
  return el(
    "section",
    { class: "session", "aria-labelledby": headingId, "data-session": sessionId },
    el("h3", { id: headingId }, "Session ", el("code", { text: sessionId })),
  );
}

// Make parent's children from index `skip` on exactly `nodes`, in order, touching only what differs.
function placeChildren(parent, nodes, skip) {
  nodes.forEach((node, index) => {
    const current = parent.children[index + skip];
    if (current !== node) parent.insertBefore(node, current || null);
  });
  while (parent.children.length > nodes.length + skip) parent.lastElementChild.remove();
}

function cssId(text) {
  return text.replace(/[^A-Za-z0-9_-]/g, "_");
}

function kindLabel(kind) {
  return KIND_LABELS[kind] || kind;
}

function renderCard(item) {
  const titleId = `title-${cssId(item.id)}`;
  const card = el("article", {
    class: `card kind-${item.kind}`,
    "data-id": item.id,
    "data-kind": item.kind,
    "aria-labelledby": titleId,
  });
  const meta = el(
    "p",
    { class: "meta" },
    el("span", { class: "badge", text: kindLabel(item.kind) }),
    " ",
    el("time", { datetime: item.created_at, title: item.created_at, text: `raised ${formatTime(item.created_at)}` }),
    item.expires_at ? " · " : null,
    item.expires_at
      ? el("span", { class: "countdown", "data-expires": item.expires_at, "aria-label": "time left" })
      : el("span", { class: "countdown none", text: " · no expiry" }),
  );
  // Who asked, and in which run: the raising token's user and the request id.
  const origin = el(
    "p",
    { class: "meta origin" },
    item.created_by ? "asked by " : null,
    item.created_by ? el("strong", { text: item.created_by }) : null,
    item.created_by ? " · " : null,
    "request ",
    el("code", { text: item.request_id }),
  );
  const heading = el("h4", { id: titleId, text: item.question || item.message || kindLabel(item.kind) });
  card.append(heading, meta, origin);
  if (item.question && item.message) card.append(el("p", { class: "message", text: item.message }));
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const builder = FORMS[item.kind] || acknowledgeForm;
  card.append(builder(item, (body, button) => submit(item, body, button, error, card), error));
  card.append(error, eventsPanel(item));
  return card;
}

function dataList(data, skip = []) {
  const entries = Object.entries(data || {}).filter(([key]) => !skip.includes(key));
  if (entries.length === 0) return null;
  const list = el("dl", { class: "data" });
  for (const [key, value] of entries) {
    list.append(el("dt", { text: key.replace(/_/g, " ") }));
    list.append(el("dd", {}, readable(value)));
  }
  return list;
}

// Scalars as text, a list of scalars as a list, anything deeper as indented JSON.
function readable(value) {
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) {
    return el("ul", { class: "plain" }, ...value.map((v) => el("li", { text: String(v) })));
  }
  return el("pre", { text: JSON.stringify(value, null, 2) });
}

function actions(...buttons) {
  return el("div", { class: "actions" }, ...buttons);
}

const FORMS = {
  clarification(item, send) {
    const inputId = `answer-${cssId(item.id)}`;
    const text = el("textarea", { id: inputId, name: "text", rows: 2, required: true });
    const form = el("form", { class: "answer", novalidate: true });
    const options = Array.isArray(item.data && item.data.options) ? item.data.options : null;
    if (options && options.length) {
      form.append(
        el(
          "div",
          { class: "options", role: "group", "aria-label": "Suggested answers" },
          ...options.map((option) =>
            el("button", {
              type: "button",
              class: "option",
              text: String(option),
              onclick: (e) => send({ text: String(option) }, e.currentTarget),
            }),
          ),
        ),
      );
    }
    const extra = dataList(item.data, ["options"]);
    if (extra) form.append(extra);
    form.append(
      el("label", { for: inputId, text: options ? "Or write your answer" : "Your answer" }),
      text,
      actions(el("button", { type: "submit", class: "primary", text: "Send" })),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) return showCardError(form.nextSibling, "Write an answer first.", text);
      send({ text: value }, e.submitter);
    });
    return form;
  },

  confirmation(item, send, error) {
    // A reason rides on the answer as its text: the agent receives it, History shows it.
    const inputId = `reason-${cssId(item.id)}`;
    const reason = el("textarea", { id: inputId, name: "reason", rows: 2 });
    const answer = (approved) => (e) => {
      const text = reason.value.trim();
      send(text ? { approved, text } : { approved }, e.currentTarget);
    };
    return el(
      "div",
      { class: "answer" },
      dataList(item.data),
      editForm(item, send, error, (data) => ({ approved: true, data })),
      el("label", { for: inputId, text: "Reason (optional, sent with your answer)" }),
      reason,
      actions(
        el("button", { type: "button", class: "primary", text: "Approve", onclick: answer(true) }),
        el("button", { type: "button", class: "danger", text: "Reject", onclick: answer(false) }),
      ),
    );
  },

  agent_review(item, send, error) {
    const inputId = `comment-${cssId(item.id)}`;
    const comment = el("textarea", { id: inputId, name: "comment", rows: 2 });
    const decide = (decision) => (e) => {
      const text = comment.value.trim();
      if (decision === "modify" && !text) return showCardError(error, "Say what to change in the comment.", comment);
      send(text ? { decision, text } : { decision }, e.currentTarget);
    };
    return el(
      "div",
      { class: "answer" },
      dataList(item.data),
      editForm(item, send, error, (data) => ({ decision: "modify", data })),
      el("label", { for: inputId, text: "Comment (needed for Modify)" }),
      comment,
      actions(
        el("button", { type: "button", class: "primary", text: "Approve", onclick: decide("approve") }),
        el("button", { type: "button", class: "danger", text: "Reject", onclick: decide("reject") }),
        el("button", { type: "button", text: "Modify", onclick: decide("modify") }),
      ),
    );
  },
};

function acknowledgeForm(item, send) {
  return el(
    "div",
    { class: "answer" },
    dataList(item.data),
    actions(el("button", { type: "button", class: "primary", text: "Acknowledge", onclick: (e) => send({}, e.currentTarget) })),
  );
}

function showCardError(node, message, focusTarget) {
  node.textContent = message;
  node.hidden = false;
  if (focusTarget) focusTarget.focus();
}

async function submit(item, body, button, error, card) {
  const buttons = card.querySelectorAll("button, textarea");
  buttons.forEach((b) => (b.disabled = true));
  error.hidden = true;
  card.setAttribute("aria-busy", "true");
  try {
    const resolved = await api(`/v1/interrupts/${encodeURIComponent(item.id)}/respond`, { method: "POST", body });
    forget(resolved, false);
    announce(`Answered: ${item.question || item.message || kindLabel(item.kind)}`);
    const next = focusTargetAfter(card);
    renderPending();
    // Synchronously, right after the render: a deferred focus could land after the user moved on.
    if (next) next.focus();
    if (state.historyLoaded) renderHistory();
  } catch (err) {
    buttons.forEach((b) => (b.disabled = false));
    card.removeAttribute("aria-busy");
    if (err.code === "not_pending") {
      // Someone else answered, or it expired or was cancelled: it leaves the list.
      showCardError(error, `${err.message} It is removed from your inbox.`);
      state.gone.add(item.id);
      state.pending.delete(item.id);
      setTimeout(renderPending, 4000);
    } else {
      const field = err.problem && err.problem.field ? ` (field: ${err.problem.field})` : "";
      showCardError(error, `${err.message}${field}`);
      if (button) button.focus();
    }
  }
}

// Keyboard users keep their place: focus moves to the next card's first control.
function focusTargetAfter(card) {
  if (!card.contains(document.activeElement)) return null;
  const cards = [...document.querySelectorAll("#sessions article.card")];
  const index = cards.indexOf(card);
  const next = cards[index + 1] || cards[index - 1];
  const target = next && next.querySelector("button, textarea");
  if (target) return target;
  const heading = $("pending-title");
  heading.setAttribute("tabindex", "-1");
  return heading;
}

// ---- Rendering: history -------------------------------------------------------------------

function renderHistory() {
  const items = [...state.history.values()].sort(
    (a, b) => (b.resolved_at || b.created_at || "").localeCompare(a.resolved_at || a.created_at || ""),
  );
  $("history-empty").hidden = items.length > 0;
  $("history-list").replaceChildren(...items.map(renderHistoryItem));
  $("history-more").hidden = !Object.values(state.historyCursors).some(Boolean);
}

function describeStatus(status) {
  return { resolved: "answered", cancelled: "cancelled", expired: "expired" }[status] || status;
}

function summarizeResponse(response) {
  if (!response) return null;
  const parts = [];
  if (response.approved === true) parts.push("approved");
  if (response.approved === false) parts.push("rejected");
  if (response.decision) parts.push(`decision: ${response.decision}`);
  if (response.text) parts.push(`“${response.text}”`);
  if (response.data && Object.keys(response.data).length) parts.push(JSON.stringify(response.data));
  return parts.length ? parts.join(" · ") : "acknowledged";
}

function renderHistoryItem(item) {
  const response = item.status === "resolved" ? item.response : null;
  const when = item.resolved_at || (response && response.received_at);
  return el(
    "li",
    { class: `past status-${item.status}`, "data-id": item.id, "data-status": item.status },
    el(
      "p",
      { class: "meta" },
      el("span", { class: "badge", text: kindLabel(item.kind) }),
      " ",
      el("span", { class: `status status-${item.status}`, text: describeEnding(item) }),
      when ? " " : "",
      when ? el("time", { datetime: when, title: when, text: formatTime(when) }) : null,
      " · session ",
      el("code", { text: item.session_id }),
    ),
    el("p", { class: "subject", text: item.question || item.message || item.id }),
    response ? el("p", { class: "answer-text" }, el("strong", { text: "Answer: " }), summarizeResponse(response)) : null,
    item.consumed_at ? el("p", { class: "used", text: `Approval used by the agent ${formatTime(item.consumed_at)}` }) : null,
    eventsPanel(item),
  );
}

// ---- Time ---------------------------------------------------------------------------------

function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function formatLeft(ms) {
  if (ms <= 0) return "expiring now";
  const total = Math.floor(ms / 1000);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d) return `${d}d ${h}h left`;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m left`;
  return `${m}:${String(s).padStart(2, "0")} left`;
}

// The countdown: updated every second from expires_at; the server's sweeper does the expiring
// and the stream then removes the card.
function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll(".countdown[data-expires]")) {
    const left = new Date(node.dataset.expires).getTime() - now;
    node.textContent = formatLeft(left);
    node.classList.toggle("soon", left < 60_000);
  }
}

// ---- Views, messages ----------------------------------------------------------------------

function showView(view) {
  state.view = view;
  $("pending").hidden = view !== "pending";
  $("history").hidden = view !== "history";
  $("waiting").hidden = view !== "waiting";
  $("show-pending").setAttribute("aria-pressed", String(view === "pending"));
  $("show-history").setAttribute("aria-pressed", String(view === "history"));
  $("show-waiting").setAttribute("aria-pressed", String(view === "waiting"));
  if (view === "history") {
    renderHistory();
    loadHistory();
  }
  if (view === "waiting") loadWaiting();
}

function announce(text) {
  const region = $("announce");
  region.textContent = "";
  // A fresh text node after clearing makes screen readers speak repeated messages too.
  requestAnimationFrame(() => (region.textContent = text));
}

function showGlobalError(text) {
  const node = $("global-error");
  node.hidden = !text;
  node.textContent = text || "";
}

// ---- Start --------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = $("sign-in-error");
    const token = $("token").value.trim();
    if (!token) return showCardError(error, "Paste your access token.", $("token"));
    error.hidden = true;
    try {
      await signIn(token);
    } catch (err) {
      showCardError(error, err.status === 401 ? "That token is not valid (or was revoked)." : err.message, $("token"));
    }
  });
  $("sign-out").addEventListener("click", signOut);
  $("show-pending").addEventListener("click", () => showView("pending"));
  $("show-history").addEventListener("click", () => showView("history"));
  $("history-more").addEventListener("click", () => loadHistory(true));
  $("show-waiting").addEventListener("click", () => showView("waiting"));
  $("waiting-refresh").addEventListener("click", loadWaiting);
  setInterval(tick, 1000);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    // signIn fails before the inbox is shown, so the sign-in form is still what is on screen.
    signIn(saved).catch((err) => {
      const refused = err.status === 401 || err.status === 403;
      if (!refused) $("token").value = saved; // kept: one click to retry once the server is back
      showCardError($("sign-in-error"), refused ? "Your session's token is no longer valid." : err.message);
    });
  }
  else $("token").focus();
});
