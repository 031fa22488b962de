// The classroom tools (docs/tools.md): answer card, buzzer, countdown timer, random pick and
// trophies. The server decides every outcome (tally, winner, pick, timer state); this keeps
// the room's view of them, rebuilt from the saved messages on join and followed from live
// events, the server's clock (from the join answer) and this user's own answers.

import { TKError } from "./errors.js";

export const QUESTION = "Question";
export const ANSWER = "AnswerCommit";
export const COUNT = "AnswerCount";
export const RESULT = "PublishResult";
export const BUZZER = "qiangDaQi";
export const PRESS = "QiangDaZhe";
export const TIMER = "timer";
export const DIAL = "dial";
export const GIFT = "sendgift";

const QID_RE = /^[A-Za-z0-9_-]{1,32}$/;
const TICK_MS = 250;

/** A fresh card id: time and randomness, in the allowed characters (≤ 32). */
export function newQid() {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return `q${Date.now().toString(36)}${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const qidOf = (id, prefix) => (typeof id === "string" && id.startsWith(prefix) ? id.slice(prefix.length) : null);

export class Tools {
  /** `room`: the TK.Room whose messages carry the tools; events go out through it. */
  constructor(room) {
    this.room = room;
    this.offset = 0; // server clock minus this clock (ms)
    this.cards = new Map(); // qid -> {qid, question, asked, seq, counts, answered, result}
    this.mine = new Map(); // qid -> this user's last accepted answer
    this._asked = new Map(); // qid -> the right answer of a card this user asked (this page)
    this.buzzer = null; // the saved qiangDaQi
    this.winner = null; // the saved QiangDaZhe_<uid> of this round
    this.timerMsg = null;
    this.dialMsg = null;
    this._tick = null;
    this._endedSeen = false;
    /** The countdown's controls by their short names: `room.tools.timer.start(60)`. */
    this.timer = Object.freeze({
      start: (seconds) => this.timerStart(seconds),
      pause: () => this.timerPause(),
      resume: () => this.timerResume(),
      reset: () => this.timerReset(),
      remove: () => this.timerRemove(),
      state: () => this.timerState(),
      remaining: () => this.remaining(),
    });
  }

  // ---- the server's clock ----------------------------------------------------------------

  /** Learns the server's clock from the join answer (`serverTime`), halfway through the request. */
  setServerTime(serverTime, sentAt, receivedAt) {
    if (typeof serverTime !== "number" || !Number.isFinite(serverTime)) return;
    this.offset = serverTime - (sentAt + receivedAt) / 2;
  }

  /** The server's time now (epoch ms), as well as this browser can tell. */
  now() {
    return Date.now() + this.offset;
  }

  // ---- the model -------------------------------------------------------------------------

  /** Rebuilds everything from the saved messages (join, rejoin, msgList). */
  reset(messages) {
    this.cards = new Map();
    this.buzzer = null;
    this.winner = null;
    this.timerMsg = null;
    this.dialMsg = null;
    for (const m of messages) this._apply(m, false);
    this._endedSeen = this.timerState().state === "ended";
    this._schedule();
    this.room.dispatchEvent("tools-changed", { reason: "reset" });
  }

  _apply(m, live) {
    const d = m.data && typeof m.data === "object" ? m.data : {};
    const name = m.name;
    let qid;
    if (name === QUESTION || (qid = qidOf(m.id, "Question_")) !== null) {
      qid = d.qid || qid || qidOf(m.id, "Question_");
      if (!qid) return null;
      const old = this.cards.get(qid);
      this.cards.set(qid, {
        qid,
        question: { ...d },
        seq: m.seq || (old && old.seq) || 0,
        counts: (old && old.counts) || null,
        answered: (old && old.answered) || 0,
        result: (old && old.result) || null,
        right: Array.isArray(d.right) ? d.right : (old && old.right) || this._asked.get(qid) || null,
        version: (old && old.version) || 0,
        fromID: m.fromID,
      });
      return "question";
    }
    if (name === RESULT || (qid = qidOf(m.id, "PublishResult_")) !== null) {
      qid = d.qid || qid || qidOf(m.id, "PublishResult_");
      const card = this.cards.get(qid);
      if (!card) return null;
      card.result = { ...d };
      if (Array.isArray(d.counts)) card.counts = d.counts;
      if (typeof d.answered === "number") card.answered = d.answered;
      if (Array.isArray(d.right)) card.right = d.right;
      return "result";
    }
    if (name === COUNT) {
      const card = this.cards.get(d.qid);
      if (!card || !Array.isArray(d.counts)) return null;
      // Two nodes send counts: an older one arriving after a newer one is dropped.
      if (typeof d.version === "number" && d.version < card.version) return null;
      if (typeof d.version === "number") card.version = d.version;
      card.counts = d.counts;
      card.answered = Number(d.answered) || 0;
      if (Array.isArray(d.right)) card.right = d.right; // super users: the right answer
      return "count";
    }
    if (name === BUZZER || m.id === BUZZER) {
      this.buzzer = m;
      this.winner = null; // a new round
      return "buzzer";
    }
    if (name === PRESS || qidOf(m.id, "QiangDaZhe_") !== null) {
      this.winner = m;
      return "winner";
    }
    if (name === TIMER || m.id === TIMER) {
      this.timerMsg = m;
      return "timer";
    }
    if (name === DIAL || m.id === DIAL) {
      this.dialMsg = m;
      return "dial";
    }
    if (live && name === GIFT) return "gift";
    return null;
  }

  /** A live pubMsg (the room has already saved it when it is saved). */
  onPubMsg(m) {
    const kind = this._apply(m, true);
    if (!kind) return;
    const d = m.data || {};
    switch (kind) {
      case "question":
        this.room.dispatchEvent("tools-question", { qid: d.qid, card: this.card(d.qid), fromID: m.fromID });
        break;
      case "count":
        this.room.dispatchEvent("tools-count", { qid: d.qid, counts: d.counts, answered: d.answered });
        break;
      case "result": {
        const qid = d.qid || qidOf(m.id, "PublishResult_");
        this.room.dispatchEvent("tools-result", { qid, card: this.card(qid), mine: this.myAnswer(qid), correct: this.isCorrect(qid) });
        break;
      }
      case "buzzer":
        this.room.dispatchEvent("tools-buzzer", { round: d.round, armed: true });
        break;
      case "winner":
        this.room.dispatchEvent("tools-winner", { round: d.round, userId: this.winnerId(), user: this.room.getUser(this.winnerId()) });
        break;
      case "timer":
        if (this.timerState().state !== "ended") this._endedSeen = false;
        this._schedule();
        this.room.dispatchEvent("tools-timer", { timer: this.timerState() });
        this._checkEnd();
        break;
      case "dial":
        this.room.dispatchEvent("tools-dial", { userId: d.userid, nickname: d.nickname, pickedAt: d.picked_at });
        break;
      case "gift":
        this._applyTotals(d.totals, m.fromID);
        this.room.dispatchEvent("tools-gift", { receivers: d.receivers || Object.keys(d.totals || {}), totals: d.totals || {}, fromID: m.fromID });
        break;
    }
    this.room.dispatchEvent("tools-changed", { reason: kind });
  }

  /** The server keeps each receiver's `giftnumber` property; the gift event carries the totals. */
  _applyTotals(totals, fromID) {
    for (const [id, n] of Object.entries(totals && typeof totals === "object" ? totals : {})) {
      const user = this.room.users.get(id);
      if (!user || typeof n !== "number") continue;
      user.properties = user.properties || {};
      if (user.properties.giftnumber === n) continue;
      user.properties.giftnumber = n;
      this.room.dispatchEvent("room-userproperty-changed", { user, message: { giftnumber: n }, fromID });
    }
  }

  /** A live delMsg: a card, the buzzer (and its winner), the timer or the pick removed. */
  onDelMsg(m) {
    let kind = null;
    const qid = qidOf(m.id, "Question_");
    if (qid !== null && this.cards.delete(qid)) {
      this.mine.delete(qid);
      kind = "question";
    } else if (qidOf(m.id, "PublishResult_") !== null) {
      const card = this.cards.get(qidOf(m.id, "PublishResult_"));
      if (card) card.result = null;
      kind = "result";
    } else if (m.id === BUZZER) {
      this.buzzer = null;
      this.winner = null;
      kind = "buzzer";
    } else if (qidOf(m.id, "QiangDaZhe_") !== null) {
      this.winner = null;
      kind = "winner";
    } else if (m.id === TIMER) {
      this.timerMsg = null;
      this._schedule();
      kind = "timer";
    } else if (m.id === DIAL) {
      this.dialMsg = null;
      kind = "dial";
    }
    if (kind) this.room.dispatchEvent("tools-changed", { reason: kind, removed: true });
  }

  // ---- reading ---------------------------------------------------------------------------

  /** May this user run the tools? The teacher and assistants. */
  isSuper() {
    const role = this.room.self && this.room.self.properties && this.room.self.properties.role;
    return role === 0 || role === 1;
  }

  /** May this user answer cards and press the buzzer? Students. */
  isStudent() {
    const role = this.room.self && this.room.self.properties && this.room.self.properties.role;
    return role === 2;
  }

  /**
   * One card: `{qid, question: {title, options, multiple, limit_s?, asked_at}, counts,
   * answered, right, result, open, closesAt}`. `right` is known to the teacher and assistants
   * (from the live counts, or the card they asked) and to everyone once the result is out.
   */
  card(qid) {
    const c = this.cards.get(qid);
    if (!c) return null;
    return { ...c, open: this._isOpen(c), closesAt: this._closesAt(c) };
  }

  /** The latest card (open or with its result), or null. */
  currentCard() {
    let best = null;
    for (const c of this.cards.values()) if (!best || c.seq >= best.seq) best = c;
    return best ? this.card(best.qid) : null;
  }

  _closesAt(c) {
    const q = c.question;
    return typeof q.asked_at === "number" && Number(q.limit_s) > 0 ? q.asked_at + Number(q.limit_s) * 1000 : null;
  }

  _isOpen(c) {
    if (c.result) return false;
    for (const o of this.cards.values()) if (o !== c && o.seq > c.seq) return false; // a newer card closed it
    const end = this._closesAt(c);
    return end === null || this.now() < end;
  }

  /** This user's last accepted answer to a card (indices), or null. */
  myAnswer(qid) {
    const a = this.mine.get(qid);
    return a ? [...a] : null;
  }

  /** Was this user's answer right? null when there is no result with a right answer, or no answer. */
  isCorrect(qid) {
    const c = this.cards.get(qid);
    const right = c && c.result && Array.isArray(c.result.right) ? c.result.right : null;
    const mine = this.mine.get(qid);
    if (!right || !mine) return null;
    const a = [...mine].sort((x, y) => x - y);
    const b = [...right].sort((x, y) => x - y);
    return a.length === b.length && a.every((v, i) => v === b[i]);
  }

  /** The buzzer: `{armed, round, winnerId, pressedAt}` (armed false when there is none). */
  buzzerState() {
    if (!this.buzzer) return { armed: false, round: 0, winnerId: null, pressedAt: null };
    const d = this.buzzer.data || {};
    const w = this.winner && this.winner.data ? this.winner.data : {};
    return { armed: true, round: d.round || 0, armedAt: d.armed_at, winnerId: this.winnerId(), pressedAt: w.pressed_at ?? null };
  }

  winnerId() {
    if (!this.winner) return null;
    return qidOf(this.winner.id, "QiangDaZhe_") || this.winner.fromID || null;
  }

  /** The timer: `{state: "none"|"running"|"paused"|"stopped"|"ended", duration_ms, remaining_ms}` now. */
  timerState() {
    const d = (this.timerMsg && this.timerMsg.data) || null;
    if (!d || typeof d.state !== "string") return { state: "none", duration_ms: 0, remaining_ms: 0 };
    const duration = Number(d.duration_ms) || 0;
    let remaining = Math.max(0, Number(d.remaining_ms) || 0);
    let state = d.state;
    if (state === "running") {
      remaining = Math.max(0, remaining - (this.now() - (Number(d.since_ms) || 0)));
      if (remaining === 0) state = "ended"; // ends here too, whatever happens to the node
    }
    if (state === "ended") remaining = 0;
    return { state, duration_ms: duration, remaining_ms: remaining };
  }

  /** The timer's remaining time in ms (server clock). */
  remaining() {
    return this.timerState().remaining_ms;
  }

  /** The last random pick: `{userId, nickname, pickedAt}` or null. */
  lastPick() {
    const d = this.dialMsg && this.dialMsg.data;
    return d && d.userid ? { userId: d.userid, nickname: d.nickname, pickedAt: d.picked_at } : null;
  }

  /** A user's trophies (the `giftnumber` user property the server keeps). */
  trophies(userId) {
    const u = this.room.getUser(userId);
    return (u && u.properties && Number(u.properties.giftnumber)) || 0;
  }

  // ---- the timer's end ---------------------------------------------------------------------

  _schedule() {
    const running = this.timerMsg && this.timerMsg.data && this.timerMsg.data.state === "running";
    if (running && !this._tick && typeof setInterval === "function") this._tick = setInterval(() => this._checkEnd(), TICK_MS);
    if (!running && this._tick) {
      clearInterval(this._tick);
      this._tick = null;
    }
  }

  /** "tools-timer-ended" once per run: at zero here, or at the server's end signal. */
  _checkEnd() {
    if (this._endedSeen || this.timerState().state !== "ended") return;
    this._endedSeen = true;
    if (this._tick) {
      clearInterval(this._tick);
      this._tick = null;
    }
    this.room.dispatchEvent("tools-timer-ended", { timer: this.timerState() });
  }

  // ---- answer card -------------------------------------------------------------------------

  /**
   * Asks a card (teacher, assistant): `{title?, options: [2..8 labels], multiple?, right?:
   * [indices], limit_s?}`; resolves with its qid.
   */
  async ask({ qid, title, options, multiple = false, right, limit_s } = {}) {
    const id = qid || newQid();
    if (!QID_RE.test(id)) throw new TKError(103, "a qid is 1-32 letters, digits, '_' or '-'");
    if (!Array.isArray(options) || options.length < 2 || options.length > 8) throw new TKError(103, "a card has 2 to 8 options");
    const data = { qid: id, options: options.map(String), multiple: Boolean(multiple) };
    if (title) data.title = String(title);
    if (Array.isArray(right) && right.length) data.right = right.map(Number);
    if (limit_s) data.limit_s = Number(limit_s);
    if (data.right) this._asked.set(id, data.right);
    await this.room.pubMsg({ name: QUESTION, id: `Question_${id}`, toID: "__all", save: true, data });
    const card = this.cards.get(id);
    if (card && !card.right && data.right) card.right = data.right;
    return id;
  }

  /** Answers a card (student): indices of the options; a new answer replaces the last one while the card is open. */
  async answer(qid, indices) {
    const answer = (Array.isArray(indices) ? indices : [indices]).map(Number);
    await this.room.pubMsg({ name: ANSWER, id: ANSWER, toID: "__none", save: false, data: { qid, answer } });
    this.mine.set(qid, answer);
    this.room.dispatchEvent("tools-answered", { qid, answer: [...answer] });
    this.room.dispatchEvent("tools-changed", { reason: "answered" });
  }

  /** Remembers an answer this user gave earlier (e.g. before a reload, kept by the page). */
  rememberAnswer(qid, indices) {
    if (this.cards.has(qid) && Array.isArray(indices)) this.mine.set(qid, indices.map(Number));
  }

  /** Closes a card and shows its result to the class (teacher, assistant). */
  publishResult(qid) {
    return this.room.pubMsg({ name: RESULT, id: `PublishResult_${qid}`, toID: "__all", save: true, data: { qid } });
  }

  /** Removes a card, its result and its tally (teacher, assistant). */
  removeCard(qid) {
    return this.room.delMsg({ name: QUESTION, id: `Question_${qid}`, toID: "__all" });
  }

  // ---- buzzer ------------------------------------------------------------------------------

  /** Arms the buzzer: a new round (teacher, assistant). */
  arm() {
    return this.room.pubMsg({ name: BUZZER, id: BUZZER, toID: "__all", save: true, data: {} });
  }

  /** Takes the buzzer (and its winner) away (teacher, assistant). */
  disarm() {
    return this.room.delMsg({ name: BUZZER, id: BUZZER, toID: "__all" });
  }

  /** Presses the buzzer (student); rejects with 2602 when someone was first, 4105 when not armed. */
  press() {
    const me = this.room.self;
    if (!me) return Promise.reject(new TKError(2508));
    const round = this.buzzerState().round;
    return this.room.pubMsg({ name: PRESS, id: `${PRESS}_${me.id}`, toID: "__all", save: true, associatedMsgID: BUZZER, data: { round } });
  }

  // ---- timer ---------------------------------------------------------------------------------

  _timer(data) {
    return this.room.pubMsg({ name: TIMER, id: TIMER, toID: "__all", save: true, data });
  }

  /** Starts the countdown at `seconds` (1-86400). */
  timerStart(seconds) {
    return this._timer({ action: "start", duration_s: Math.round(Number(seconds)) });
  }

  timerPause() {
    return this._timer({ action: "pause" });
  }

  timerResume() {
    return this._timer({ action: "resume" });
  }

  /** Back to the full duration, stopped. */
  timerReset() {
    return this._timer({ action: "reset" });
  }

  /** Takes the timer off every screen. */
  timerRemove() {
    return this.room.delMsg({ name: TIMER, id: TIMER, toID: "__all" });
  }

  // ---- random pick and trophies ------------------------------------------------------------

  /** Picks a present student at random (the server picks); resolves when announced. */
  dial() {
    return this.room.pubMsg({ name: DIAL, id: DIAL, toID: "__all", save: true, data: {} });
  }

  /** Gives one trophy to each of `userIds` (teacher, assistant). */
  sendGift(userIds) {
    const receivers = (Array.isArray(userIds) ? userIds : [userIds]).map(String);
    return this.room.pubMsg({ name: GIFT, id: GIFT, toID: "__all", save: false, data: { receivers } });
  }
}
