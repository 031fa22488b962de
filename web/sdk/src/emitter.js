// The original SDK's event style: room.addEventListener("room-connected", fn), each listener
// gets one object {type, ...fields}. `on`/`off` are short names for the same thing.

export class Emitter {
  constructor() {
    this._listeners = new Map();
  }

  addEventListener(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return this;
  }

  removeEventListener(type, fn) {
    const set = this._listeners.get(type);
    if (set) set.delete(fn);
    return this;
  }

  on(type, fn) {
    return this.addEventListener(type, fn);
  }

  off(type, fn) {
    return this.removeEventListener(type, fn);
  }

  /** Calls every listener of `type` and of "*"; one listener throwing never stops the others. */
  dispatchEvent(type, fields = {}) {
    const ev = { type, ...fields };
    for (const key of [type, "*"]) {
      const set = this._listeners.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try {
          fn(ev);
        } catch (err) {
          console.error(`tkroom: listener of ${type} failed`, err);
        }
      }
    }
    return ev;
  }
}
