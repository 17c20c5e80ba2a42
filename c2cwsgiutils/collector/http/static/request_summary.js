// What a request did, at a glance: SQL count and time, repeated statements (N+1), slowest spans,
// the critical path, and span labels from the span events' fields (see c2cwsgiutils/collector/query/request_view.py).

import { formatDuration, h } from "./dom.js";

const KIND_TAGS = { server: "web", sql: "sql", client: "client", task: "celery", internal: "span" };

/** The label cell content of a span row: its kind, label and flags (or the services as before). */
export function spanLabel(span) {
  if (!span.label) return null;
  const parts = [h("span", { class: `tag ${KIND_TAGS[span.span_kind] || "span"}` }, span.span_kind || "span"), " "];
  if (span.status === "error") parts.push(h("span", { class: "tag error" }, span.error_type || "error"), " ");
  if (span.repeated) parts.push(h("span", { class: "tag repeated", title: `run ${span.repeated} times in this request` }, `×${span.repeated}`), " ");
  if (span.slow) parts.push(h("span", { class: "tag slow", title: "one of the slowest spans" }, "slow"), " ");
  if (span.critical) {
    parts.push(h("span", { class: "tag critical", title: `on the critical path for ${formatDuration(span.critical_ms * 1000)} of its own` }, "critical"), " ");
  }
  parts.push(h("span", { class: span.span_kind === "sql" ? "mono" : "" }, span.label));
  if (span.services && span.services.length) parts.push(" ", h("span", { class: "muted" }, span.services.join(", ")));
  return parts;
}

/** [start, end] in microseconds of a span that has its event, else null. */
export function spanBounds(span) {
  if (typeof span.duration_ms !== "number" || typeof span.start !== "number") return null;
  const start = span.start * 1e6;
  return [start, start + span.duration_ms * 1000];
}

/** Classes of a span row. */
export function spanClass(span) {
  return ["span-row", span.slow ? "slow" : "", span.repeated ? "repeated" : "", span.status === "error" ? "failed" : "",
    span.critical ? "critical" : ""]
    .filter(Boolean).join(" ");
}

/** The block above the waterfall: SQL totals, repeated statements, slowest spans, critical path
 * and, while ``result.complete`` is false, a note (``pending``: the view looks again soon). */
export function summaryBlock(result, spans, focusSpan, pending) {
  if (!result.sql) return null;
  const sql = result.sql;
  const facts = [
    h("span", { class: "fact", "data-fact": "sql" }, h("strong", {}, String(sql.count)), ` SQL statement${sql.count === 1 ? "" : "s"} · `,
      h("strong", {}, formatDuration(sql.duration_ms * 1000)), sql.capped ? h("span", { class: "error" }, " · capped") : null),
  ];
  if (typeof result.duration_ms === "number") {
    facts.push(" · ", h("span", { class: "fact", "data-fact": "duration" }, "request ", h("strong", {}, formatDuration(result.duration_ms * 1000))));
  }
  const blocks = [h("p", { class: "facts" }, facts)];
  const link = (spanId, text) => h("button", { class: "link", type: "button", onclick: () => focusSpan(spanId) }, text);
  if (result.repeated && result.repeated.length) {
    blocks.push(h("div", { class: "flags repeated-list", role: "list", "aria-label": "Repeated statements" },
      result.repeated.map((entry) => h("div", { class: "flag", role: "listitem" },
        h("span", { class: "tag repeated" }, `N+1 ×${entry.count}`), " ",
        link(entry.span_ids[0], h("span", { class: "mono" }, entry.sql)), " ",
        h("span", { class: "muted" }, formatDuration(entry.duration_ms * 1000))))));
  }
  if (result.slowest && result.slowest.length) {
    blocks.push(h("div", { class: "flags slowest-list", role: "list", "aria-label": "Slowest spans" },
      h("span", { class: "muted" }, "Slowest: "),
      result.slowest.map((entry, index) => [index ? " · " : "",
        h("span", { class: "flag", role: "listitem" }, link(entry.span_id, entry.label), " ",
          h("strong", {}, formatDuration(entry.duration_ms * 1000)))])));
  }
  const path = (result.critical_path || []).map((spanId) => spans.get(spanId)).filter(Boolean);
  if (path.length) {
    const longest = [...path].sort((a, b) => b.critical_ms - a.critical_ms).slice(0, 3);
    blocks.push(h("div", { class: "flags critical-list", role: "list", "aria-label": "Critical path" },
      h("span", { class: "legend-critical", title: "The chain of spans the request's end waited for: at each span, the child that ended last" },
        h("span", { class: "sw critical" }), `Critical path: ${path.length} span${path.length === 1 ? "" : "s"}; most time on it: `),
      longest.map((span, index) => [index ? " · " : "",
        h("span", { class: "flag", role: "listitem" }, link(span.span_id, span.label || span.span_id.slice(0, 16)), " ",
          h("strong", {}, formatDuration(span.critical_ms * 1000)))])));
  }
  if (result.complete === false) {
    blocks.push(h("p", { class: "incomplete muted", role: "status" },
      "Incomplete: some spans have not ended or their records are still on their way", pending ? "; looking again…" : "."));
  }
  return h("div", { class: "request-summary" }, blocks);
}

/** The bars of a span's own time on the critical path (``at(us)``, ``size(us)``: CSS positions). */
export function criticalMarks(span, at, size) {
  return (span.critical_segments || []).map(([start, end]) => {
    const mark = h("span", { class: "cpath" });
    mark.style.left = at(start * 1e6);
    mark.style.width = size((end - start) * 1e6);
    return mark;
  });
}
