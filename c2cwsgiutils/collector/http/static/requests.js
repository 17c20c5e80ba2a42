// The requests page: recent requests (route, status, duration, SQL count and time), filterable and
// sortable by duration, each linked to its request view; per-route p50/p95/p99 over the range.

import { ApiError, api, fill, formatDuration, formatTime, h, tsToUs, usToIso } from "./dom.js";

const RANGES = { "15m": 15 * 60_000, "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000 };
const DEFAULTS = { range: "24h", route: "", status: "", service: "", min: "", sort: "time" };
const FIELDS = Object.keys(DEFAULTS);
const $ = (id) => document.getElementById(id);

function readState() {
  const params = new URLSearchParams(location.search);
  const state = { ...DEFAULTS };
  for (const key of FIELDS) if (params.has(key)) state[key] = params.get(key);
  if (!(state.range in RANGES) && state.range !== "all") state.range = DEFAULTS.range;
  return state;
}

function writeState(state) {
  const params = new URLSearchParams();
  for (const key of FIELDS) if (state[key] !== DEFAULTS[key]) params.set(key, state[key]);
  const query = params.toString();
  history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}`);
}

function params(state) {
  return {
    after: state.range in RANGES ? usToIso((Date.now() - RANGES[state.range]) * 1000) : "",
    route: state.route,
    status: state.status,
    service: state.service,
    min_duration_ms: state.min,
  };
}

const ms = (value) => (typeof value === "number" ? formatDuration(value * 1000) : "—");

function requestRow(row) {
  const link = `./?request=${encodeURIComponent(row.request_id)}`;
  const failed = row.status === "error" || (typeof row.status_code === "number" && row.status_code >= 500);
  const route = [row.method, row.route].filter(Boolean).join(" ") || "—";
  return h("tr", { class: failed ? "failed" : "", "data-request": row.request_id },
    h("td", { class: "c-time" }, formatTime(tsToUs(row.ts) / 1000)),
    h("td", { class: "num" }, ms(row.duration_ms)),
    h("td", { class: failed ? "lv-ERROR" : "" }, row.status_code ?? row.status),
    h("td", {}, h("a", { href: link }, route)),
    h("td", {}, row.service || "—"),
    h("td", { class: "num" }, String(row.sql.count)),
    h("td", { class: "num" }, ms(row.sql.duration_ms)),
    h("td", { class: "rid" }, h("a", { href: link, title: row.request_id }, row.request_id)));
}

function routeRow(entry) {
  const route = [entry.method, entry.route].filter(Boolean).join(" ") || "—";
  return h("tr", {},
    h("td", {}, h("button", { class: "link", type: "button", onclick: () => apply({ route: entry.route, sort: "duration" }) }, route)),
    h("td", { class: "num" }, String(entry.count)), h("td", { class: "num" }, String(entry.errors)),
    h("td", { class: "num" }, ms(entry.p50)), h("td", { class: "num" }, ms(entry.p95)),
    h("td", { class: "num" }, ms(entry.p99)), h("td", { class: "num" }, ms(entry.max)));
}

let state = readState();

async function load() {
  const error = $("req-error");
  error.hidden = true;
  try {
    const [requests, routes] = await Promise.all([
      api("api/v1/requests", { ...params(state), sort: state.sort, limit: 100 }),
      api("api/v1/routes", params(state)),
    ]);
    fill($("requests").tBodies[0], requests.requests.map(requestRow));
    $("req-empty").hidden = requests.requests.length > 0;
    fill($("req-count"), `(${requests.count}${requests.count === requests.limit ? "+" : ""})`);
    fill($("routes").tBodies[0], routes.routes.map(routeRow));
  } catch (exc) {
    error.hidden = false;
    error.textContent = exc instanceof ApiError ? `${exc.body.parameter ? `${exc.body.parameter}: ` : ""}${exc.message}` : String(exc);
  }
}

function toForm() {
  for (const key of FIELDS) $(key).value = state[key];
}

function apply(changes = null) {
  if (changes) Object.assign(state, changes);
  else for (const key of FIELDS) state[key] = $(key).value.trim();
  toForm();
  writeState(state);
  load();
}

const theme = localStorage.getItem("c2c-collector-theme");
if (theme) document.documentElement.dataset.theme = theme;
$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  apply();
});
for (const id of ["range", "sort"]) $(id).addEventListener("change", () => apply());
toForm();
load();
