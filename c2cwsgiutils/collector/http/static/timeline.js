// The histogram above the table: counts per minute/hour/day bucket, stacked by level group
// (three HEAD /api/v1/record?group= requests: every level, >= WARNING, >= ERROR), in SVG.
// Dragging over it calls onZoom(fromMs, toMs).

import { api, fill, formatTime, s } from "./dom.js";

const LEVELS = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };
const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const HEIGHT = 110;
const AXIS = 16;

function chooseGroup(spanMs) {
  if (spanMs <= 3 * 3_600_000) return "minute";
  if (spanMs <= 8 * 86_400_000) return "hour";
  return "day";
}

function parseBuckets(headers) {
  const counts = (headers.get("X-Record-Count") || "").split(",").filter(Boolean).map(Number);
  const starts = (headers.get("X-Record-Group") || "").split(",").filter(Boolean).map(Number);
  const result = new Map();
  starts.forEach((start, index) => result.set(start * 1000, counts[index] || 0));
  return result;
}

export class Timeline {
  constructor(svg, info, onZoom) {
    this.svg = svg;
    this.info = info;
    this.onZoom = onZoom;
    this.data = null;
    this.controller = null;
    this.brush = null;
    svg.addEventListener("pointerdown", (event) => this.dragStart(event));
    svg.addEventListener("pointermove", (event) => this.dragMove(event));
    svg.addEventListener("pointerup", (event) => this.dragEnd(event));
    new ResizeObserver(() => this.draw()).observe(svg);
  }

  /** Fetch the buckets of ``params`` (the table's filters) between ``afterMs`` and ``beforeMs``. */
  async load(params, afterMs, beforeMs) {
    if (this.controller) this.controller.abort();
    const controller = (this.controller = new AbortController());
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const userLevel = LEVELS[params.level] ?? 0;
    const end = beforeMs ?? Date.now();
    let group = afterMs ? chooseGroup(end - afterMs) : "hour";
    const fetchGroup = (level) =>
      api("api/v1/record", { ...params, level, group, timezone: zone }, { method: "HEAD", signal: controller.signal }).then(
        parseBuckets,
      );
    const fetchAll = () =>
      Promise.all([
        fetchGroup(params.level || ""),
        userLevel < 30 ? fetchGroup("WARNING") : null,
        userLevel < 40 ? fetchGroup("ERROR") : null,
      ]);
    let [all, warning, error] = await fetchAll();
    if (!afterMs && all.size) {
      const first = Math.min(...all.keys());
      const better = chooseGroup(end - first);
      if (better !== group) {
        group = better;
        [all, warning, error] = await fetchAll();
      }
    }
    if (controller.signal.aborted) return;
    warning = warning || all;
    error = error || warning;
    const starts = [...all.keys()].sort((a, b) => a - b);
    const from = afterMs ?? (starts.length ? starts[0] : end - 3_600_000);
    this.data = { group, from, to: Math.max(end, from + 1), starts, all, warning, error };
    this.draw();
  }

  /** Forget the buckets (after an error: no stale histogram). */
  clear() {
    this.data = null;
    this.info.textContent = "";
    this.draw();
  }

  scale(ms) {
    const { from, to } = this.data;
    return ((ms - from) / (to - from)) * this.width;
  }

  invert(x) {
    const { from, to } = this.data;
    return from + (Math.min(Math.max(x, 0), this.width) / this.width) * (to - from);
  }

  draw() {
    const width = (this.width = this.svg.clientWidth || 800);
    this.svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
    if (!this.data) return fill(this.svg);
    const { group, starts, all, warning, error, from, to } = this.data;
    const plot = HEIGHT - AXIS;
    const max = Math.max(1, ...all.values());
    const nodes = [s("line", { class: "grid", x1: 0, x2: width, y1: plot + 0.5, y2: plot + 0.5 })];
    const bucket = BUCKET_MS[group];
    let total = 0;
    for (const start of starts) {
      const count = all.get(start) || 0;
      total += count;
      const atLeastWarning = Math.min(count, warning.get(start) || 0);
      const atLeastError = Math.min(atLeastWarning, error.get(start) || 0);
      const x = this.scale(Math.max(start, from));
      const w = Math.max(1, this.scale(Math.min(start + bucket, to)) - x - 1);
      let y = plot;
      const label = `${formatTime(start)} — ${count} record${count === 1 ? "" : "s"}`;
      for (const [value, cls] of [
        [count - atLeastWarning, "b-info"],
        [atLeastWarning - atLeastError, "b-warning"],
        [atLeastError, "b-error"],
      ]) {
        if (value <= 0) continue;
        const barHeight = Math.max(1, (value / max) * (plot - 4));
        y -= barHeight;
        nodes.push(s("rect", { class: `bar ${cls}`, x, y, width: w, height: barHeight }, s("title", {}, label)));
      }
    }
    const ticks = Math.max(2, Math.floor(width / 140));
    for (let i = 0; i <= ticks; i++) {
      const ms = from + ((to - from) * i) / ticks;
      const x = (width * i) / ticks;
      const sameDay = to - from < 86_400_000;
      const text = sameDay ? formatTime(ms, false).slice(0, 8) : formatTime(ms).slice(0, 16);
      const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
      nodes.push(s("text", { class: "axis", x, y: HEIGHT - 3, "text-anchor": anchor }, text));
    }
    this.brush = s("rect", { class: "brush", x: 0, y: 0, width: 0, height: plot, visibility: "hidden" });
    nodes.push(this.brush);
    fill(this.svg, nodes);
    this.info.textContent = `${total.toLocaleString()} records, per ${group}`;
  }

  x(event) {
    return event.clientX - this.svg.getBoundingClientRect().left;
  }

  dragStart(event) {
    if (!this.data || event.button !== 0) return;
    this.dragFrom = this.x(event);
    this.svg.setPointerCapture(event.pointerId);
  }

  dragMove(event) {
    if (this.dragFrom === undefined || !this.brush) return;
    const x = this.x(event);
    this.brush.setAttribute("x", Math.min(x, this.dragFrom));
    this.brush.setAttribute("width", Math.abs(x - this.dragFrom));
    this.brush.setAttribute("visibility", "visible");
  }

  dragEnd(event) {
    if (this.dragFrom === undefined) return;
    const x = this.x(event);
    const start = this.dragFrom;
    this.dragFrom = undefined;
    if (this.brush) this.brush.setAttribute("visibility", "hidden");
    if (Math.abs(x - start) < 4) return;
    this.onZoom(Math.floor(this.invert(Math.min(x, start))), Math.ceil(this.invert(Math.max(x, start))));
  }
}
