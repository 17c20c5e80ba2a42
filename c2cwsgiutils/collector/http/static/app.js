// The collector UI: state in the URL, search form, results table with keyset paging, follow
// mode, timeline, record panel, request view and keyboard shortcuts.

import { ApiError, api, fill, formatTime, h, tsToUs, usToIso } from "./dom.js";
import { renderRecord, renderRequest } from "./detail.js";
import { Follower } from "./follow.js";
import { Timeline } from "./timeline.js";

const PAGE = 100;
const RANGES = { "15m": 15 * 60_000, "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000 };
const DEFAULTS = { q: "", range: "24h", from: "", to: "", level: "", name: "", follow: "", before: "", skip: "0", o: "0", record: "", request: "" };
const THEME_KEY = "c2c-collector-theme";
const TIMELINE_REFRESH_MS = 5000; // while following, the timeline is reloaded at most this often
const $ = (id) => document.getElementById(id);

let state = readState();
let rows = [];
let selected = -1;
let cursors = [];
let loadController = null;
let recordCount = 0;
let timelineLoaded = 0;

function readState() {
  const params = new URLSearchParams(location.search);
  const result = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS)) if (params.has(key)) result[key] = params.get(key);
  if (!(result.range in RANGES) && result.range !== "all" && result.range !== "custom") result.range = DEFAULTS.range;
  return result;
}

function writeState(push) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) if (value !== DEFAULTS[key]) params.set(key, value);
  const query = params.toString();
  const url = `${location.pathname}${query ? `?${query}` : ""}`;
  if (url === `${location.pathname}${location.search}`) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

/** [afterMs, beforeMs] of the state's time range (null when open). */
function timeWindow() {
  if (state.range in RANGES) return [Date.now() - RANGES[state.range], null];
  if (state.range === "custom") {
    const from = state.from ? Date.parse(state.from) : NaN;
    const to = state.to ? Date.parse(state.to) : NaN;
    return [Number.isNaN(from) ? null : from, Number.isNaN(to) ? null : to];
  }
  return [null, null];
}

function filterParams() {
  const [after, before] = timeWindow();
  return {
    query: state.q,
    level: state.level,
    name: state.name,
    after: after === null ? "" : usToIso(after * 1000),
    before: before === null ? "" : usToIso(before * 1000),
  };
}

// ---- form <-> state ----------------------------------------------------------------------------

function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(Date.parse(iso));
  const p = (v) => String(v).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fromLocalInput(value) {
  if (!value) return "";
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString();
}

function stateToForm() {
  $("q").value = state.q;
  $("range").value = state.range;
  $("from").value = toLocalInput(state.from);
  $("to").value = toLocalInput(state.to);
  $("level").value = state.level;
  $("name").value = state.name;
  $("follow").checked = state.follow === "1";
  $("search").classList.toggle("is-custom", state.range === "custom");
}

function formToState() {
  state.q = $("q").value.trim();
  state.range = $("range").value;
  state.from = state.range === "custom" ? fromLocalInput($("from").value) : "";
  state.to = state.range === "custom" ? fromLocalInput($("to").value) : "";
  state.level = $("level").value;
  state.name = $("name").value.trim();
}

function resetPage() {
  state.before = "";
  state.skip = "0";
  state.o = "0";
  cursors = [];
}

function search(push = true) {
  formToState();
  resetPage();
  writeState(push);
  reload();
}

// ---- errors ------------------------------------------------------------------------------------

function showError(error) {
  if (error && error.name === "AbortError") return;
  const queryError = $("q-error");
  if (error instanceof ApiError && error.body.type === "query_syntax_error") {
    const position = Math.max(0, Math.min(Number(error.body.position) || 0, state.q.length));
    fill(queryError, state.q, "\n", " ".repeat(position), h("span", { class: "caret" }, "^"), " ", error.body.message);
    queryError.hidden = false;
    $("q").setAttribute("aria-invalid", "true");
    return;
  }
  const box = $("error");
  box.textContent = error instanceof ApiError ? `${error.body.parameter ? `${error.body.parameter}: ` : ""}${error.message}` : `Error: ${error.message || error}`;
  box.hidden = false;
}

function clearErrors() {
  $("q-error").hidden = true;
  $("q").removeAttribute("aria-invalid");
  $("error").hidden = true;
}

// ---- table -------------------------------------------------------------------------------------

function recordRow(record, fresh = false) {
  const ms = tsToUs(record.time) / 1000;
  const rid = record.request_id
    ? h("a", { class: "rid", href: `?request=${encodeURIComponent(record.request_id)}`, title: record.request_id,
      onclick: (event) => { event.preventDefault(); event.stopPropagation(); openRequest(record.request_id); } }, record.request_id)
    : "";
  const row = h(
    "tr",
    { "data-id": record.id, class: fresh ? "fresh" : null, onclick: () => { select(rows.indexOf(record)); openRecord(record.id); } },
    h("td", { class: "c-time", title: record.time }, formatTime(ms)),
    h("td", {}, h("span", { class: `lv lv-${record.level_name}` }, record.level_name)),
    h("td", { title: record.host || "" }, record.service || ""),
    h("td", { title: record.name }, record.name),
    h("td", { class: "rid" }, rid),
    h("td", { class: "msg", title: record.message.length > 200 ? `${record.message.slice(0, 2000)}` : record.message }, record.message),
  );
  record.element = row;
  return row;
}

function renderRows() {
  fill($("records").tBodies[0], rows.map((record) => record.element || recordRow(record)));
  $("empty").hidden = rows.length > 0;
  const first = Number(state.o);
  $("page-info").textContent = rows.length ? `${(first + 1).toLocaleString()}–${(first + rows.length).toLocaleString()}` : "";
  $("newer").disabled = first === 0 && !state.before;
  $("newest").disabled = first === 0 && !state.before;
  $("older").disabled = rows.length < PAGE;
  if (selected >= rows.length) selected = rows.length - 1;
  select(selected, false);
}

function select(index, scroll = true) {
  for (const row of $("records").tBodies[0].querySelectorAll("tr.selected")) row.classList.remove("selected");
  selected = index;
  const record = rows[index];
  if (record && record.element) {
    record.element.classList.add("selected");
    if (scroll) record.element.scrollIntoView({ block: "nearest" });
  }
}

async function loadTable() {
  if (loadController) loadController.abort();
  const controller = (loadController = new AbortController());
  const params = filterParams();
  const skip = Number(state.skip) || 0;
  const counting = api("api/v1/record", params, { method: "HEAD", signal: controller.signal });
  counting.catch(() => null);
  const page = await api("api/v1/record", { ...params, before: state.before || params.before, left: skip, right: skip + PAGE - 1 },
    { signal: controller.signal });
  const count = await counting;
  if (controller.signal.aborted) return;
  rows = page;
  renderRows();
  showCount(Number(count.get("X-Record-Count") || 0));
}

function showCount(count) {
  recordCount = count;
  $("count").textContent = `${count.toLocaleString()} records`;
}

async function reload() {
  follower.stop(); // records of the former filters must not reach the new table
  clearErrors();
  stateToForm();
  const [after, before] = timeWindow();
  // HEAD answers carry no body: prefer the error of a GET, which says why (and where).
  timelineLoaded = Date.now();
  const results = await Promise.allSettled([loadTable(), timeline.load(filterParams(), after, before)]);
  const errors = results.filter((result) => result.status === "rejected").map((result) => result.reason);
  const failed = errors.filter((error) => error.name !== "AbortError");
  if (failed.length) {
    showError(failed.find((error) => error instanceof ApiError && error.body.type) || failed[0]);
    rows = [];
    renderRows();
    $("count").textContent = "";
    $("empty").hidden = true;
    timeline.clear();
  }
  restartFollow();
}

/** Keyset paging: the next page is at or before the last row's time (`before` is inclusive),
 * skipping the rows at that time already shown. */
function older() {
  if (rows.length < PAGE) return;
  const lastUs = tsToUs(rows[rows.length - 1].time);
  const atLast = rows.filter((record) => tsToUs(record.time) === lastUs).length;
  const currentBefore = state.before ? tsToUs(state.before) : null;
  cursors.push({ before: state.before, skip: state.skip, o: state.o });
  const skip = currentBefore === lastUs ? Number(state.skip) + atLast : atLast;
  state.before = usToIso(lastUs);
  state.skip = String(skip);
  state.o = String(Number(state.o) + rows.length);
  state.follow = "";
  selected = 0;
  writeState(true);
  reload();
}

function newer(toNewest = false) {
  const previous = toNewest ? null : cursors.pop();
  if (previous) Object.assign(state, previous);
  else resetPage();
  if (toNewest) cursors = [];
  selected = 0;
  writeState(true);
  reload();
}

// ---- follow ------------------------------------------------------------------------------------

/** Stream what is stored after the table was read, with its filters (never a page but the first). */
function restartFollow() {
  follower.stop();
  if (state.follow !== "1" || state.before || state.o !== "0") return;
  const params = { ...filterParams(), before: "" };
  let lastId = null;
  if (rows.length) {
    lastId = Math.max(...rows.map((record) => record.id));
    // A record stored later but older than a full page's last row would not be shown: not asked.
    if (rows.length >= PAGE) params.after = rows[rows.length - 1].time;
  }
  follower.start(params, lastId);
}

/** Merge streamed records into the first page: the newest PAGE records by time, as a reload shows. */
function followed(records) {
  $("follow").parentElement.title = `${follower.received.toLocaleString()} records streamed since follow was turned on`;
  const known = new Set(rows.map((record) => record.id));
  const fresh = records.filter((record) => !known.has(record.id));
  if (!fresh.length) return;
  const current = rows[selected];
  for (const record of fresh) recordRow(record, true);
  const newestFirst = (a, b) => tsToUs(b.time) - tsToUs(a.time) || b.id - a.id;
  rows = [...fresh, ...rows].sort(newestFirst).slice(0, PAGE);
  if (current) selected = rows.indexOf(current);
  renderRows();
  showCount(recordCount + fresh.length);
  if (Date.now() - timelineLoaded >= TIMELINE_REFRESH_MS) {
    timelineLoaded = Date.now();
    const [after, before] = timeWindow();
    timeline.load(filterParams(), after, before).catch(showError);
  }
}

let followFailed = false;
function followError(error) {
  followFailed = true;
  showError(error);
}

function followState(value) {
  const label = $("follow").parentElement;
  label.dataset.state = value;
  if (!value) label.title = "Follow new records (f)";
  if (value === "live" && followFailed) {
    followFailed = false;
    $("error").hidden = true;
  }
}

function setFollow(on) {
  state.follow = on ? "1" : "";
  $("follow").checked = on;
  if (on && (state.before || state.o !== "0")) {
    resetPage();
    writeState(false);
    reload();
    return;
  }
  writeState(false);
  restartFollow();
}

// ---- panels ------------------------------------------------------------------------------------

async function openRecord(id, push = true) {
  state.record = String(id);
  if (push) writeState(true);
  const panel = $("panel");
  panel.hidden = false;
  try {
    await renderRecord(id, $("panel-title"), $("panel-body"), (rid) => openRequest(rid));
  } catch (error) {
    fill($("panel-body"), h("p", { class: "error" }, error.message));
  }
  panel.focus();
}

async function openRequest(requestId, push = true) {
  state.request = requestId;
  state.record = "";
  $("panel").hidden = true;
  if (push) writeState(true);
  const view = $("request-view");
  view.hidden = false;
  view.focus();
  try {
    await renderRequest(requestId, $("request-title"), $("request-body"), (id) => openRecord(id));
  } catch (error) {
    fill($("request-body"), h("p", { class: "error" }, error.message));
  }
}

function closeTop() {
  if (!$("panel").hidden) {
    $("panel").hidden = true;
    state.record = "";
  } else if (!$("request-view").hidden) {
    $("request-view").hidden = true;
    state.request = "";
  } else return false;
  writeState(true);
  return true;
}

function syncPanels() {
  if (state.request) {
    if ($("request-view").hidden || $("request-title").textContent !== `Request ${state.request}`) openRequest(state.request, false);
  } else $("request-view").hidden = true;
  if (state.record) openRecord(state.record, false);
  else $("panel").hidden = true;
}

// ---- theme and keyboard ------------------------------------------------------------------------

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

function toggleTheme() {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === "dark"
    : matchMedia("(prefers-color-scheme: dark)").matches;
  const theme = dark ? "light" : "dark";
  localStorage.setItem(THEME_KEY, theme);
  applyTheme(theme);
}

function moveIn(list, delta) {
  const items = [...list];
  if (!items.length) return;
  const current = items.indexOf(document.activeElement);
  const next = items[Math.max(0, Math.min(items.length - 1, (current < 0 ? -1 : current) + delta))];
  next.focus();
}

function onKey(event) {
  const target = event.target;
  const typing = target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement;
  if (event.key === "Escape") {
    if (typing) target.blur();
    else if (closeTop()) event.preventDefault();
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey || document.querySelector("dialog[open]")) return;
  const requestOpen = !$("request-view").hidden && $("panel").hidden;
  const keys = {
    "/": () => { $("q").focus(); $("q").select(); },
    j: () => (requestOpen ? moveIn($("request-body").querySelectorAll("tr.rec-row"), 1) : select(Math.min(rows.length - 1, selected + 1))),
    k: () => (requestOpen ? moveIn($("request-body").querySelectorAll("tr.rec-row"), -1) : select(Math.max(0, selected - 1))),
    Enter: () => {
      if (requestOpen && document.activeElement.matches("tr.rec-row")) openRecord(document.activeElement.dataset.id);
      else if (rows[selected]) openRecord(rows[selected].id);
    },
    r: () => rows[selected] && rows[selected].request_id && openRequest(rows[selected].request_id),
    "]": older,
    "[": () => newer(),
    f: () => setFollow(state.follow !== "1"),
    t: toggleTheme,
    "?": () => $("help").showModal(),
  };
  const action = keys[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

// ---- start -------------------------------------------------------------------------------------

applyTheme(localStorage.getItem(THEME_KEY) || "");
const follower = new Follower(followed, followError, followState);
const timeline = new Timeline($("timeline"), $("timeline-info"), (fromMs, toMs) => {
  state.range = "custom";
  state.from = new Date(fromMs).toISOString();
  state.to = new Date(toMs).toISOString();
  state.follow = "";
  resetPage();
  writeState(true);
  reload();
});

$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  search();
});
for (const id of ["range", "level"]) {
  $(id).addEventListener("change", () => {
    if (id === "range" && $("range").value === "custom" && !$("from").value) {
      const [after] = timeWindow();
      $("from").value = toLocalInput(new Date(after ?? Date.now() - 86_400_000).toISOString());
      $("to").value = toLocalInput(new Date().toISOString());
    }
    search();
  });
}
for (const id of ["from", "to"]) $(id).addEventListener("change", () => search());
$("follow").addEventListener("change", () => setFollow($("follow").checked));
$("theme").addEventListener("click", toggleTheme);
$("help-button").addEventListener("click", () => $("help").showModal());
$("older").addEventListener("click", older);
$("newer").addEventListener("click", () => newer());
$("newest").addEventListener("click", () => newer(true));
for (const button of document.querySelectorAll("[data-close]")) button.addEventListener("click", closeTop);
document.addEventListener("keydown", onKey);
window.addEventListener("popstate", () => {
  state = readState();
  cursors = [];
  reload();
  syncPanels();
});

stateToForm();
reload();
syncPanels();
