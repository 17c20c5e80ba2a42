// What a request did, at a glance: SQL count and time, repeated statements (N+1), slowest spans,
// and span labels from the span events' fields (see c2cwsgiutils/collector/query/request_view.py).

import { formatDuration, h } from "./dom.js";

const KIND_TAGS = { server: "web", sql: "sql", client: "client", task: "celery", internal: "span" };

/** The label cell content of a span row: its kind, label and flags (or the services as before). */
export function spanLabel(span) {
  if (!span.label) return null;
  const parts = [h("span", { class: `tag ${KIND_TAGS[span.span_kind] || "span"}` }, span.span_kind || "span"), " "];
  if (span.status === "error") parts.push(h("span", { class: "tag error" }, span.error_type || "error"), " ");
  if (span.repeated) parts.push(h("span", { class: "tag repeated", title: `run ${span.repeated} times in this request` }, `×${span.repeated}`), " ");
  if (span.slow) parts.push(h("span", { class: "tag slow", title: "one of the slowest spans" }, "slow"), " ");
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
  return ["span-row", span.slow ? "slow" : "", span.repeated ? "repeated" : "", span.status === "error" ? "failed" : ""]
    .filter(Boolean).join(" ");
}

/** The block above the waterfall: SQL totals, repeated statements, slowest spans. */
export function summaryBlock(result, focusSpan) {
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
  return h("div", { class: "request-summary" }, blocks);
}
