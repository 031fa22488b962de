// One signalling session over plain WebSocket (docs/protocol.md): requests with ids and one
// acknowledgement each, events with the room sequence `s`, and resuming after a dropped socket
// so that the room never sees the user leave and no event is handled twice. In a cluster the
// resume walks the signalling URLs getconfig lists (its node may be gone), the session being in
// the shared state.

import { TKError } from "./errors.js";

const REQUEST_TIMEOUT_MS = 15000;
export const FAILOVER_ATTEMPTS = 30; // about two minutes of no node answering, with the 4 s backoff cap

/** The URLs to resume on: the one in use first, then the others in the order given, once each. */
export function failoverUrls(current, others) {
  const out = [current];
  for (const u of others || []) if (typeof u === "string" && u && !out.includes(u)) out.push(u);
  return out;
}

export class Connection {
  /**
   * @param {string} url signal URL from getconfig
   * @param {(ev: string, data: object, s: number|undefined) => void} onEvent
   * @param {{onDrop: Function, onResumed: Function, onLost: Function, maxAttempts: number,
   *   urls?: string[], failoverAttempts?: number}} hooks urls: the other nodes' signal URLs
   */
  constructor(url, onEvent, hooks) {
    this.url = url;
    this.urls = failoverUrls(url, hooks.urls);
    this.unanswered = 0; // attempts in a row on which no node opened a socket
    this.sessionUrl = url; // where the session last lived: resuming elsewhere moves the media too
    this.onEvent = onEvent;
    this.hooks = hooks;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.last = 0;
    this.session = null;
    this.closedByUs = false;
    this.attempt = 0;
    this._reconnectTimer = null;
  }

  /** Opens the socket; resolves when it is open, rejects with 2600 when it cannot be. */
  open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (err) {
        reject(new TKError(2600, `Room link failed: ${err.message}`));
        return;
      }
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.ws = ws;
        resolve();
      };
      ws.onmessage = (m) => this._onFrame(m.data);
      ws.onclose = () => {
        if (!opened) {
          reject(new TKError(2600, "Room link failed: the signalling server did not answer"));
          return;
        }
        this._onClose(ws);
      };
    });
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends one request and resolves with the ack's data, or rejects with TKError(code, msg). */
  request(ev, data = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
    if (!this.connected) return Promise.reject(new TKError(2508));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TKError(2510, `The server did not answer ${ev} in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, ev });
      this.ws.send(JSON.stringify({ id, ev, data }));
    });
  }

  _onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if ("ack" in frame) {
      const p = this.pending.get(frame.ack);
      if (!p) return;
      this.pending.delete(frame.ack);
      clearTimeout(p.timer);
      if (frame.code === 0) p.resolve(frame.data || {});
      else p.reject(new TKError(frame.code, frame.msg, { data: frame.data }));
      return;
    }
    if (typeof frame.s === "number") {
      if (frame.s <= this.last) return; // replayed after resume and already handled
      this.last = frame.s;
    }
    this.onEvent(frame.ev, frame.data || {}, frame.s);
  }

  _failPending(code) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new TKError(code));
    }
    this.pending.clear();
  }

  _onClose(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    this._failPending(2508);
    if (this.closedByUs || !this.session) return;
    this.hooks.onDrop();
    this._scheduleResume();
  }

  _scheduleResume() {
    const max = this.hooks.maxAttempts;
    if (max > 0 && this.attempt >= max) {
      this.hooks.onLost(new TKError(2602));
      return;
    }
    const bound = max > 0 ? max : this.hooks.failoverAttempts || FAILOVER_ATTEMPTS;
    if (this.unanswered >= bound) {
      this.hooks.onLost(
        new TKError(2600, `Room link failed: no signalling server answered in ${this.unanswered} attempts (tried ${this.urls.join(", ")})`),
      );
      return;
    }
    this.attempt += 1;
    const delay = Math.min(250 * 2 ** (this.attempt - 1), 4000);
    this.hooks.onReconnecting(this.attempt);
    this._reconnectTimer = setTimeout(() => this._resume(), delay);
  }

  async _resume() {
    if (this.closedByUs) return;
    // The node we were on first (a dropped socket is often only the network), then the others.
    this.url = this.urls[(this.attempt - 1) % this.urls.length];
    try {
      await this.open();
    } catch {
      // An offline page is not "no node answers": it waits for the network without a bound.
      if (typeof navigator === "undefined" || navigator.onLine !== false) this.unanswered += 1;
      this._scheduleResume();
      return;
    }
    this.unanswered = 0;
    try {
      const sentAt = Date.now();
      const ack = await this.request("resume", {
        session: this.session.id,
        token: this.session.token,
        last: this.last,
      });
      this.attempt = 0;
      const moved = this.url !== this.sessionUrl;
      this.sessionUrl = this.url;
      this.hooks.onResumed(ack, sentAt, Date.now(), { url: this.url, moved });
    } catch (err) {
      if (err.code === 102) {
        // The session is gone: the room must be joined again from scratch.
        this.session = null;
        this.attempt = 0;
        this.hooks.onExpired();
      } else if (!this.connected) {
        this._scheduleResume();
      } else {
        this.hooks.onLost(err);
      }
    }
  }

  /** Forces a reconnect now (the server's forceReconnect, or the page going back online). */
  reconnectNow() {
    if (this.ws) this.ws.close();
  }

  close() {
    this.closedByUs = true;
    clearTimeout(this._reconnectTimer);
    this._failPending(2508);
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}
