// DOM and API helpers. Every value from a record goes through text nodes or setAttribute:
// the UI never builds HTML from strings, so a message holding markup shows as text.

const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "c2c-collector-token";

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function setAttributes(element, attributes) {
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") element.setAttribute("class", value);
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
}

/** An HTML element with attributes (on* become listeners) and text or element children. */
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  return append(element, children);
}

/** An SVG element. */
export function s(tag, attributes, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attributes);
  return append(element, children);
}

/** Replace every child of ``element``. */
export function fill(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

/** The reader token the user typed (this tab's, else the remembered one), or "". */
export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || "";
}

let tokenPrompt = null;

function askToken() {
  if (tokenPrompt) return tokenPrompt;
  const dialog = document.getElementById("auth");
  tokenPrompt = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const token = document.getElementById("auth-token").value.trim();
        const remember = document.getElementById("auth-remember").checked;
        sessionStorage.setItem(TOKEN_KEY, token);
        if (remember) localStorage.setItem(TOKEN_KEY, token);
        else localStorage.removeItem(TOKEN_KEY);
        tokenPrompt = null;
        resolve(token);
      },
      { once: true },
    );
    dialog.showModal();
  });
  return tokenPrompt;
}

/** Call the collector API (relative to the page); HEAD answers the headers, others the JSON (raw: the Response). */
export async function api(path, params = {}, { method = "GET", signal, raw = false } = {}, retried = false) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, String(value));
  }
  const headers = { Accept: "application/json" };
  const token = storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { method, headers, signal, credentials: "omit", cache: "no-store" });
  if (response.status === 401 && !retried) {
    await askToken();
    return api(path, params, { method, signal, raw }, true);
  }
  if (!response.ok) {
    let body = {};
    try {
      body = await response.json();
    } catch {
      body = {};
    }
    throw new ApiError(response.status, body);
  }
  if (raw) return response;
  return method === "HEAD" ? response.headers : response.json();
}

const pad = (value, size = 2) => String(value).padStart(size, "0");

/** Microseconds since the epoch of the API's ``time`` (ISO 8601 UTC with microseconds). */
export function tsToUs(ts) {
  const dot = ts.indexOf(".");
  const seconds = Date.parse(`${ts.slice(0, dot > 0 ? dot : 19)}Z`) / 1000;
  const micros = dot > 0 ? Number(ts.slice(dot + 1, dot + 7).padEnd(6, "0")) : 0;
  return seconds * 1_000_000 + micros;
}

/** ISO 8601 UTC with microseconds of a time in microseconds (what the API parses exactly). */
export function usToIso(us) {
  const seconds = Math.floor(us / 1_000_000);
  const micros = us - seconds * 1_000_000;
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${pad(micros, 6)}Z`;
}

/** Local time ``YYYY-MM-DD HH:MM:SS.mmm`` of a time in milliseconds. */
export function formatTime(ms, withDate = true) {
  const d = new Date(ms);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return withDate ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}` : time;
}

/** A duration in microseconds as text (µs, ms or s). */
export function formatDuration(us) {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}
