// Follow mode: the collector pushes new matching records over Server-Sent Events
// (GET api/v1/stream), no polling. The browser's EventSource reconnects by itself after a network
// error or the server's periodic end of the response, sending Last-Event-ID so that no record is
// missed or repeated. EventSource cannot send the Authorization header the other calls use: the
// token goes in a cookie limited to api/v1/stream/<scope> (SameSite=Strict), scope being 32 random
// hex digits drawn for this page, the only path where the collector accepts the cookie: cookies
// are not kept apart by port, and no other service of this host can guess that path.

import { api, storedToken } from "./dom.js";

const COOKIE = "c2c_collector_token";
const FLUSH_MS = 150; // records arriving together are shown together
const RETRY_MS = 5000; // after an answer that was not a stream (401, 502 ...)

const SCOPE = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

function streamUrl() {
  return new URL(`api/v1/stream/${SCOPE}`, document.baseURI);
}

function setCookie(token) {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  const value = token ? `${encodeURIComponent(token)}` : "; Max-Age=0";
  document.cookie = `${COOKIE}=${value}; Path=${streamUrl().pathname}; SameSite=Strict${secure}`;
}

export class Follower {
  /**
   * onRecords(records): a batch of new records, in arrival order.
   * onError(error): the stream could not be (re)opened; it is tried again every few seconds.
   * onState(state): "live", "connecting" or "" (stopped).
   */
  constructor(onRecords, onError, onState) {
    this.onRecords = onRecords;
    this.onError = onError;
    this.onState = onState;
    this.source = null;
    this.pending = [];
    this.flushTimer = null;
    this.retryTimer = null;
    this.generation = 0;
    this.received = 0; // record events since start(), repeats included (there should be none)
    this.refused = 0; // stream answers that were not a stream while the API answered
  }

  /** Follow the records matching ``params`` stored after the record ``lastId`` (null: from now on). */
  start(params, lastId) {
    this.stop();
    this.params = params;
    this.lastId = lastId;
    this.received = 0;
    this.open();
  }

  /** Close the stream; nothing more is reported. */
  stop() {
    this.generation += 1;
    if (this.source) this.source.close();
    this.source = null;
    clearTimeout(this.flushTimer);
    clearTimeout(this.retryTimer);
    this.flushTimer = this.retryTimer = null;
    this.pending = [];
    if (this.params) setCookie("");
    this.params = null;
    this.onState("");
  }

  open() {
    const url = streamUrl();
    const params = { ...this.params, last_id: this.lastId };
    for (const [key, value] of Object.entries(params)) {
      if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, String(value));
    }
    setCookie(storedToken());
    const source = (this.source = new EventSource(url));
    this.onState("connecting");
    source.addEventListener("open", () => {
      this.refused = 0;
      this.onState("live");
    });
    source.addEventListener("record", (event) => this.receive(event));
    source.addEventListener("error", () => this.failed(source));
  }

  receive(event) {
    const record = JSON.parse(event.data);
    this.lastId = record.id;
    this.received += 1;
    this.pending.push(record);
    if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush() {
    this.flushTimer = null;
    const batch = this.pending;
    this.pending = [];
    if (batch.length) this.onRecords(batch);
  }

  async failed(source) {
    if (source !== this.source) return;
    if (source.readyState !== EventSource.CLOSED) {
      this.onState("connecting"); // the browser reconnects by itself
      return;
    }
    // The answer was not an event stream: ask the same with fetch, which tells why (and asks for
    // a token on 401), then open the stream again.
    this.source = null;
    const generation = this.generation;
    let delay = 1000;
    try {
      const response = await api("api/v1/stream", { ...this.params, timeout: 0 }, { raw: true });
      if (response.body) response.body.cancel().catch(() => null);
      this.refused += 1;
      if (this.refused > 1) {
        // The API answers, the stream does not: its cookie does not reach the collector.
        if (generation === this.generation) this.onError(new Error("the live stream is refused (are cookies blocked for this site?); retrying"));
        delay = RETRY_MS;
      }
    } catch (error) {
      if (generation === this.generation) this.onError(error);
      delay = RETRY_MS;
    }
    if (generation !== this.generation) return;
    this.retryTimer = setTimeout(() => this.open(), delay);
  }
}
