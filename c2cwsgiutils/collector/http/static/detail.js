// The record panel (every field, formatted traceback, JSON tree) and the request view
// (a waterfall of the request's span tree with its records placed where they happened).

import { api, fill, formatDuration, formatTime, h, tsToUs } from "./dom.js";
import { criticalMarks, spanBounds, spanClass, spanLabel, summaryBlock } from "./request_summary.js";

const TRACEBACK_KEYS = new Set(["exception", "stack", "exc_text", "stack_info", "traceback"]);
const MAIN_FIELDS = ["id", "uuid", "time", "level_name", "service", "host", "name", "message", "request_id",
  "trace_id", "span_id", "parent_span_id", "task_id", "kind"];

/** A formatted Python traceback: frames and the final exception line highlighted. */
export function traceback(text) {
  const lines = String(text).split("\n");
  const pre = h("pre", { class: "traceback" });
  lines.forEach((line, index) => {
    let cls = null;
    if (/^\s*File "/.test(line)) cls = "tb-frame";
    else if (line && !/^\s/.test(line) && !line.startsWith("Traceback") && !line.startsWith("During handling")
      && !line.startsWith("The above exception")) cls = "tb-error";
    pre.append(cls ? h("span", { class: cls }, line) : line, index < lines.length - 1 ? "\n" : "");
  });
  return pre;
}

function scalar(value) {
  if (value === null) return h("span", { class: "z" }, "null");
  if (typeof value === "string") return h("span", { class: "s" }, JSON.stringify(value));
  return h("span", { class: "n" }, String(value));
}

/** An expandable tree of a JSON value (objects and arrays as <details>). */
export function jsonTree(value, key = null, depth = 0) {
  const label = key === null ? [] : [h("span", { class: "k" }, key), ": "];
  if (value === null || typeof value !== "object") return h("li", {}, label, scalar(value));
  const entries = Array.isArray(value) ? value.map((item, index) => [String(index), item]) : Object.entries(value);
  const brackets = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  return h(
    "li",
    {},
    h(
      "details",
      { open: depth < 3 },
      h("summary", {}, label, h("span", { class: "z" }, brackets)),
      h("ul", { class: "tree" }, entries.map(([k, v]) => jsonTree(v, k, depth + 1))),
    ),
  );
}

function parsedJson(value) {
  if (typeof value !== "string" || !/^\s*[[{]/.test(value)) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function valueCell(key, value, openRequest) {
  if (key === "request_id" && value) {
    return h("button", { class: "link rid", type: "button", onclick: () => openRequest(value) }, value);
  }
  if (TRACEBACK_KEYS.has(key) && typeof value === "string") return traceback(value);
  const parsed = value !== null && typeof value === "object" ? value : parsedJson(value);
  if (parsed !== undefined && parsed !== null && typeof parsed === "object") {
    return h("ul", { class: "tree json" }, jsonTree(parsed));
  }
  if (value === null || value === undefined || value === "") return h("span", { class: "muted" }, "—");
  return String(value);
}

/** Fill the record panel with every field of record ``id``. */
export async function renderRecord(id, title, body, openRequest) {
  fill(body, h("p", { class: "muted" }, "Loading…"));
  const record = await api(`api/v1/record/${encodeURIComponent(id)}`);
  fill(title, `${record.level_name} · ${record.name}`);
  const rows = [];
  for (const key of MAIN_FIELDS) {
    let value = record[key];
    if (key === "time") value = `${formatTime(tsToUs(value) / 1000)} (local) · ${value}`;
    rows.push(h("tr", { "data-field": key }, h("th", {}, key), h("td", {}, valueCell(key, value, openRequest))));
  }
  const data = record.data || {};
  const extra = Object.keys(data).sort((a, b) => (TRACEBACK_KEYS.has(a) ? -1 : 0) - (TRACEBACK_KEYS.has(b) ? -1 : 0) || a.localeCompare(b));
  const dataRows = extra.map((key) =>
    h("tr", { "data-field": `data.${key}` }, h("th", {}, key), h("td", {}, valueCell(key, data[key], openRequest))),
  );
  fill(body, h("table", { class: "fields" }, h("tbody", {}, rows)), dataRows.length ? [h("h3", {}, "Data"),
    h("table", { class: "fields data" }, h("tbody", {}, dataRows))] : null);
}

function tags(record) {
  const result = [];
  const data = record.data || {};
  const name = record.name || "";
  if (data.statement || data.sql || /(^|\.)(sql|sqlalchemy|db)(\.|$)/i.test(name) || data.kind === "sql") {
    result.push(h("span", { class: "tag sql" }, "SQL"), " ");
  }
  if (record.kind === "celery" || record.task_id) result.push(h("span", { class: "tag celery" }, "task"), " ");
  return result;
}

function durationUs(record) {
  const data = record.data || {};
  for (const [key, factor] of [["duration_ms", 1000], ["duration_us", 1], ["elapsed_ms", 1000]]) {
    if (typeof data[key] === "number" && data[key] > 0) return data[key] * factor;
  }
  return 0;
}

// While the answer says the request is incomplete (a span without its event: still running, or its
// records on their way), the view looks again, POLL_DELAYS_MS apart, as long as it shows that request.
const POLL_DELAYS_MS = [150, 250, 400, 600, 900, 1300, 2000, 3000];
let latest = 0; // which call of renderRequest the view belongs to

/** Fill the request view of ``requestId``; ``openRecord(id)`` opens a record from a row. */
export async function renderRequest(requestId, title, body, openRecord, attempt = 0, generation = 0) {
  if (!attempt) {
    generation = ++latest;
    fill(title, `Request ${requestId}`);
    fill(body, h("p", { class: "muted" }, "Loading…"));
  }
  const result = await api(`api/v1/request/${encodeURIComponent(requestId)}`);
  if (generation !== latest) return; // another request was opened meanwhile
  const pending = result.complete === false && attempt < POLL_DELAYS_MS.length;
  if (pending) {
    setTimeout(() => {
      if (generation === latest && !body.closest("[hidden]")) {
        renderRequest(requestId, title, body, openRecord, attempt + 1, generation).catch((error) => {
          if (generation === latest) fill(body, h("p", { class: "error" }, error.message));
        });
      }
    }, POLL_DELAYS_MS[attempt]);
  }
  const records = result.records.map((record) => {
    const end = tsToUs(record.time);
    return { ...record, end, start: end - durationUs(record) };
  });
  if (!records.length) {
    fill(body, h("p", { class: "muted empty" }, "No record for this request."));
    return;
  }
  const spans = new Map(result.spans.map((span) => [span.span_id, { ...span, items: [] }]));
  const loose = [];
  for (const record of records) {
    const span = spans.get(record.span_id || "");
    if (span && span.event_id === record.id) continue; // the span's own event: its row stands for it
    (span ? span.items : loose).push({ type: "record", record, start: record.start });
  }
  // The server sends a forest no deeper than 64 (cycles broken, deep chains flattened); these
  // guards keep any other answer from looping or overflowing the stack.
  const bounds = (span, depth = 0) => {
    if (span.bounds) return span.bounds;
    span.bounds = [Infinity, -Infinity];
    if (depth > 256) return span.bounds;
    let [start, end] = spanBounds(span) || [Infinity, -Infinity];
    for (const item of span.items) {
      start = Math.min(start, item.record.start);
      end = Math.max(end, item.record.end);
    }
    for (const child of span.children) {
      if (!spans.has(child)) continue;
      const [childStart, childEnd] = bounds(spans.get(child), depth + 1);
      start = Math.min(start, childStart);
      end = Math.max(end, childEnd);
    }
    span.bounds = [start, end];
    return span.bounds;
  };
  const t0 = Math.min(...records.map((r) => r.start));
  const t1 = Math.max(...records.map((r) => r.end));
  const total = Math.max(1, t1 - t0);
  const pct = (us) => `${(((us - t0) / total) * 100).toFixed(3)}%`;
  const width = (us) => `${Math.max(0.2, (us / total) * 100).toFixed(3)}%`;
  const rows = [];
  const recordRow = (record, depth) => {
    const mark = h("span", { class: `mark m-${record.level_name}`, title: formatTime(record.end / 1000) });
    mark.style.left = pct(record.start);
    if (record.end > record.start) {
      mark.style.width = width(record.end - record.start);
    }
    const label = h("td", { class: "label" }, tags(record), h("span", { class: `lv lv-${record.level_name}` }, record.level_name),
      " ", h("span", { class: "muted" }, record.name), " ", record.message);
    label.style.paddingLeft = `${8 + depth * 16}px`;
    const row = h("tr", { class: "rec-row", tabindex: "-1", "data-id": record.id, onclick: () => openRecord(record.id) },
      label, h("td", { class: "muted", title: formatTime(record.end / 1000) },
        record.end > record.start ? formatDuration(record.end - record.start) : `+${formatDuration(record.end - t0)}`),
      h("td", {}, h("div", { class: "track" }, mark)));
    rows.push(row);
  };
  const shown = new Set();
  const spanRow = (span, depth) => {
    if (!span || shown.has(span.span_id) || depth > 256) return;
    shown.add(span.span_id);
    // A span with its event lasts what the event says: a task it enqueued may run long after it
    // ended (a producer span), and its own row shows that (the children's rows extend past it).
    const [start, end] = spanBounds(span) || bounds(span);
    const bar = h("span", { class: "sbar", title: `${formatTime(start / 1000)} → ${formatTime(end / 1000)}` });
    bar.style.left = pct(start);
    bar.style.width = width(end - start);
    const track = h("div", { class: "track" }, bar, criticalMarks(span, pct, width));
    const label = h("td", { class: "label", title: span.label ? `${span.label}\nspan ${span.span_id}` : null }, spanLabel(span)
      || [span.kinds.map((kind) => [h("span", { class: `tag ${kind}` }, kind), " "]),
        span.services.join(", ") || "span", " ", h("span", { class: "muted mono" }, span.span_id.slice(0, 16))]);
    label.style.paddingLeft = `${8 + depth * 16}px`;
    rows.push(h("tr", { class: spanClass(span), "data-span": span.span_id, onclick: span.event_id ? () => openRecord(span.event_id) : null },
      label, h("td", {}, formatDuration(end - start)), h("td", {}, track)));
    const items = [...span.items, ...span.children.filter((child) => spans.has(child))
      .map((child) => ({ type: "span", span: spans.get(child), start: bounds(spans.get(child))[0] }))];
    items.sort((a, b) => a.start - b.start);
    for (const item of items) {
      if (item.type === "record") recordRow(item.record, depth + 1);
      else spanRow(item.span, depth + 1);
    }
  };
  if (loose.length) {
    rows.push(h("tr", { class: "span-row" }, h("td", {}, h("span", { class: "muted" }, "outside any span")), h("td", {}), h("td", {})));
    for (const item of loose) recordRow(item.record, 1);
  }
  for (const root of result.roots) spanRow(spans.get(root), 0);
  const services = [...new Set(records.map((r) => r.service).filter(Boolean))];
  const focusSpan = (spanId) => {
    const row = body.querySelector(`tr[data-span="${CSS.escape(spanId)}"]`);
    if (!row) return;
    body.querySelectorAll("tr.focus").forEach((other) => other.classList.remove("focus"));
    row.classList.add("focus");
    row.scrollIntoView({ block: "center" });
  };
  const scroll = body.scrollTop; // a second look keeps the reader's place
  fill(
    body,
    h("p", { class: "summary" }, `${records.length} records · ${spans.size} spans · ${services.join(", ") || "no service"} · `,
      `${formatTime(t0 / 1000)} → ${formatTime(t1 / 1000, false)} · ${formatDuration(t1 - t0)}`,
      result.truncated ? h("strong", { class: "error" }, " · truncated") : null),
    summaryBlock(result, spans, focusSpan, pending),
    h("table", { class: "waterfall" }, h("colgroup", {}, h("col", { class: "w-label" }), h("col", { class: "w-dur" }), h("col")),
      h("tbody", {}, rows)),
  );
  body.scrollTop = scroll;
}
