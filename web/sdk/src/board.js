// The board (docs/board.md): pages, the shapes on each page in seq order, the page shown, the
// blank page count, and who may draw. The model is rebuilt from the room's saved messages
// (the join answer, with its compacted `board` expanded back into them) and kept up to date
// from live pubMsg/delMsg events; the API publishes the board's messages for the user.

import { TKError } from "./errors.js";

export const SHAPE = "SharpsChange";
export const SHOW_PAGE_ID = "DocumentFilePage_ShowPage";
export const PAGE_COUNT_ID = "WBPageCount";
export const SHAPE_CLASSES = Object.freeze(["Pen", "Highlighter", "Line", "Arrow", "Rectangle", "Ellipse", "Text"]);

const SEGMENT_MS = 33; // a stroke in progress goes out ~30 times a second
const LASER_MS = 50;
const MAX_POINTS = 1500; // a longer stroke continues as a new shape (the server's 32 KiB limit)
const UNDO_MAX = 200; // per page
const SHAPE_ID_RE = /^[A-Za-z0-9-]{1,64}$/;
const SHAPE_MSG_RE = /^([A-Za-z0-9-]{1,64})###_(SharpsChange|SharpsDrawing)_(\d+)_(\d+)$/;

export const pageKey = (fileid, page) => `${Number(fileid) || 0}_${Number(page) || 1}`;
export const shapeMsgId = (shapeId, key) => `${shapeId}###_${SHAPE}_${key}`;
const round4 = (v) => Math.round(Math.min(1, Math.max(0, Number(v) || 0)) * 10000) / 10000;

/** A random shape id (letters and digits, as docs/board.md allows). */
export function newShapeId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `{shapeId, kind, key}` from a board message id, or null when it is not one. */
export function parseShapeMsgId(id) {
  const m = SHAPE_MSG_RE.exec(String(id || ""));
  return m ? { shapeId: m[1], kind: m[2], key: `${Number(m[3])}_${Number(m[4])}` } : null;
}

/** The saved messages a join answer's compact `board` stands for (docs/board.md). */
export function expandBoard(board) {
  const out = [];
  for (const [key, entries] of Object.entries(board || {})) {
    for (const [shapeId, fromID, seq, className, data] of entries || []) {
      out.push({
        name: SHAPE,
        id: shapeMsgId(shapeId, key),
        toID: "__all",
        save: true,
        fromID,
        seq,
        associatedMsgID: `Page_${key}`,
        data: { eventType: "shapeSaveEvent", shapeId, className, data },
      });
    }
  }
  return out;
}

export class Board {
  /** `room`: the TK.Room whose messages carry the board; events go out through it. */
  constructor(room) {
    this.room = room;
    this.pages = new Map(); // page key -> Map(shapeId -> shape)
    this.shown = null; // the saved ShowPage's data
    this.blankPages = 1;
    this.drawing = new Map(); // shapeId -> another user's stroke in progress
    this.history = new Map(); // page key -> {undo: [], redo: []}: this user's own actions
  }

  // ---- the model -------------------------------------------------------------------------

  /** Rebuilds everything from the saved messages (join, rejoin, msgList). */
  reset(messages) {
    this.pages = new Map();
    this.shown = null;
    this.blankPages = 1;
    this.drawing.clear();
    this.history = new Map();
    for (const m of messages) this._applySaved(m);
    const me = this.room.self && this.room.self.id;
    // After a reload: undo works on what this user drew before it.
    for (const [key, shapes] of this.pages) {
      const mine = this._sorted(shapes).filter((s) => s.fromID === me);
      if (mine.length) this._hist(key).undo = mine.slice(-UNDO_MAX).map((shape) => ({ kind: "add", shape, seen: true }));
    }
    this.room.dispatchEvent("board-changed", { reason: "reset" });
  }

  _applySaved(m) {
    if (m.id === SHOW_PAGE_ID || m.name === "ShowPage") {
      if (m.data && typeof m.data === "object") this.shown = { ...m.data };
      return "page";
    }
    if (m.id === PAGE_COUNT_ID) {
      const n = Number(m.data && m.data.totalPage);
      this.blankPages = Number.isInteger(n) && n >= 1 ? n : 1;
      return "pages";
    }
    const shape = this._shapeOf(m);
    if (!shape) return null;
    let page = this.pages.get(shape.key);
    if (!page) this.pages.set(shape.key, (page = new Map()));
    page.delete(shape.shapeId); // a replaced shape moves to its new seq
    page.set(shape.shapeId, shape);
    return "shape";
  }

  _shapeOf(m) {
    const parsed = parseShapeMsgId(m.id);
    const d = m.data;
    if (!parsed || parsed.kind !== SHAPE || !d || typeof d !== "object" || d.eventType !== "shapeSaveEvent") return null;
    if (!SHAPE_CLASSES.includes(d.className) || !d.data || typeof d.data !== "object") return null;
    return { shapeId: parsed.shapeId, key: parsed.key, id: m.id, fromID: m.fromID, seq: m.seq || 0, className: d.className, data: d.data };
  }

  _sorted(shapes) {
    return [...shapes.values()].sort((a, b) => a.seq - b.seq);
  }

  _hist(key) {
    if (!this.history.has(key)) this.history.set(key, { undo: [], redo: [] });
    return this.history.get(key);
  }

  /** A live pubMsg (the room has already saved it when it is saved). */
  onPubMsg(m) {
    if (m.id === SHOW_PAGE_ID || m.name === "ShowPage" || m.id === PAGE_COUNT_ID) {
      this._applySaved(m);
      this.room.dispatchEvent("board-page", { page: this.currentPage() });
      this.room.dispatchEvent("board-changed", { reason: "page" });
      return;
    }
    const parsed = parseShapeMsgId(m.id);
    const d = m.data || {};
    if (!parsed || m.name !== SHAPE) return;
    if (parsed.kind === "SharpsDrawing" || d.eventType === "drawingEvent") return this._onSegment(parsed, m);
    if (d.eventType === "clearEvent") {
      this.pages.delete(parsed.key);
      this.history.delete(parsed.key);
      for (const [id, s] of this.drawing) if (s.key === parsed.key) this.drawing.delete(id);
      this.room.dispatchEvent("board-page-cleared", { page: parsed.key, fromID: m.fromID });
      this.room.dispatchEvent("board-history", { page: parsed.key });
      this.room.dispatchEvent("board-changed", { reason: "clear", page: parsed.key });
      return;
    }
    if (d.eventType === "laserMarkEvent") {
      const l = d.data || {};
      this.room.dispatchEvent("board-laser", { page: parsed.key, x: l.x, y: l.y, visible: Boolean(l.visible), fromID: m.fromID });
      return;
    }
    const before = this.pages.get(parsed.key);
    const replaced = Boolean(before && before.has(parsed.shapeId));
    if (this._applySaved(m) === "shape") {
      this.drawing.delete(parsed.shapeId);
      this._sawOwn(parsed.key, parsed.shapeId);
      const shape = this.pages.get(parsed.key).get(parsed.shapeId);
      this.room.dispatchEvent("board-shape-added", { page: parsed.key, shape, replaced });
      this.room.dispatchEvent("board-changed", { reason: "shape", page: parsed.key });
    }
  }

  _onSegment(parsed, m) {
    const d = m.data || {};
    const inner = d.data || {};
    const pts = Array.isArray(inner.points) ? inner.points : [];
    let s = this.drawing.get(parsed.shapeId);
    if (!s || s.key !== parsed.key) {
      s = { shapeId: parsed.shapeId, key: parsed.key, fromID: m.fromID, className: d.className || "Pen", data: { ...inner, points: [] } };
      this.drawing.set(parsed.shapeId, s);
    }
    if (s.data.points.length < MAX_POINTS * 2) s.data.points.push(...pts);
    for (const k of ["color", "width"]) if (inner[k] !== undefined) s.data[k] = inner[k];
    this.room.dispatchEvent("board-drawing", { page: parsed.key, stroke: s, points: pts, seq: d.seq });
  }

  /** Our own new shape came back from the server: from now on, its absence means it was erased. */
  _sawOwn(key, shapeId) {
    const h = this.history.get(key);
    if (!h) return;
    for (let i = h.undo.length - 1; i >= Math.max(0, h.undo.length - 8); i--) {
      if (h.undo[i].shape.shapeId === shapeId) h.undo[i].seen = true;
    }
  }

  /** A live delMsg: a shape erased or undone, or the page shown taken away. */
  onDelMsg(m) {
    if (m.id === SHOW_PAGE_ID || m.id === PAGE_COUNT_ID) {
      if (m.id === SHOW_PAGE_ID) this.shown = null;
      else this.blankPages = 1;
      this.room.dispatchEvent("board-page", { page: this.currentPage() });
      this.room.dispatchEvent("board-changed", { reason: "page" });
      return;
    }
    const parsed = parseShapeMsgId(m.id);
    if (!parsed || parsed.kind !== SHAPE) return;
    const page = this.pages.get(parsed.key);
    if (!page || !page.delete(parsed.shapeId)) return;
    this.room.dispatchEvent("board-shape-removed", { page: parsed.key, shapeId: parsed.shapeId, fromID: m.fromID });
    this.room.dispatchEvent("board-changed", { reason: "shape", page: parsed.key });
  }

  /** Someone left: their strokes in progress will never end. */
  onUserLeft(userId) {
    for (const [id, s] of this.drawing) if (s.fromID === userId) this.drawing.delete(id);
  }

  // ---- reading ---------------------------------------------------------------------------

  /** The page shown: `{fileid, currpage, pagenum, key, filename, filetype, ...}` (blank 0_1 by default). */
  currentPage() {
    const d = this.shown || {};
    const fileid = Number.isInteger(d.fileid) && d.fileid >= 0 ? d.fileid : 0;
    const currpage = Number.isInteger(d.currpage) && d.currpage >= 1 ? d.currpage : 1;
    const pagenum = fileid === 0 ? this.blankPages : Number.isInteger(d.pagenum) && d.pagenum >= currpage ? d.pagenum : currpage;
    return { ...d, fileid, currpage, pagenum, key: pageKey(fileid, currpage) };
  }

  /** The saved shapes of a page (default: the page shown), in seq order. */
  getShapes(key = this.currentPage().key) {
    const page = this.pages.get(key);
    return page ? this._sorted(page) : [];
  }

  getShape(shapeId, key = this.currentPage().key) {
    const page = this.pages.get(key);
    return (page && page.get(shapeId)) || null;
  }

  /** Other users' strokes still being drawn on a page. */
  getDrawing(key = this.currentPage().key) {
    return [...this.drawing.values()].filter((s) => s.key === key);
  }

  /** May this user draw? The teacher and assistants always; a student with `candraw`. */
  canDraw() {
    const me = this.room.self;
    if (!me) return false;
    const role = me.properties && me.properties.role;
    return role === 0 || role === 1 || (role === 2 && Boolean(me.properties.candraw));
  }

  /** May this user turn pages, clear and erase anyone's shapes? */
  isPresenter() {
    const role = this.room.self && this.room.self.properties && this.room.self.properties.role;
    return role === 0 || role === 1;
  }

  canUndo(key = this.currentPage().key) {
    return this._hist(key).undo.length > 0;
  }

  canRedo(key = this.currentPage().key) {
    return this._hist(key).redo.length > 0;
  }

  // ---- pages -----------------------------------------------------------------------------

  /** Shows a page to everyone (teacher, assistant): `fileid` 0 is the blank board. */
  showPage(fileid, currpage, info = {}) {
    const data = {
      ...info,
      fileid: Number(fileid) || 0,
      currpage: Number(currpage) || 1,
      pagenum: Number(info.pagenum) || (Number(fileid) ? Number(currpage) || 1 : this.blankPages),
      filename: String(info.filename || ""),
      filetype: String(info.filetype || ""),
    };
    return this.room.pubMsg({ name: "ShowPage", id: SHOW_PAGE_ID, toID: "__all", save: true, data });
  }

  /** How many blank pages the whiteboard has (1..1000). */
  setBlankPageCount(total) {
    return this.room.pubMsg({ name: PAGE_COUNT_ID, id: PAGE_COUNT_ID, toID: "__all", save: true, data: { fileid: 0, totalPage: total } });
  }

  /** Tells everyone to fetch the file list again (after an upload or a delete). */
  documentChanged(action, fileid) {
    return this.room.pubMsg({ name: "DocumentChange", id: "DocumentChange", toID: "__all", save: false, data: { action, fileid } });
  }

  // ---- drawing ---------------------------------------------------------------------------

  _key(key) {
    return key || this.currentPage().key;
  }

  _publishShape(shape) {
    const data = { eventType: "shapeSaveEvent", shapeId: shape.shapeId, className: shape.className, data: shape.data };
    return this.room.pubMsg({ name: SHAPE, id: shapeMsgId(shape.shapeId, shape.key), toID: "__all", save: true, associatedMsgID: `Page_${shape.key}`, data });
  }

  _erase(shape) {
    return this.room.delMsg({ name: SHAPE, id: shapeMsgId(shape.shapeId, shape.key), toID: "__all" });
  }

  /** Adds a whole shape (`className` of docs/board.md, `data` in page fractions); resolves with its shapeId. */
  async draw(className, data, opts = {}) {
    if (!SHAPE_CLASSES.includes(className)) throw new TKError(103, `no shape class ${className}`);
    const shapeId = opts.shapeId || newShapeId();
    if (!SHAPE_ID_RE.test(shapeId)) throw new TKError(103, "a shapeId is 1-64 letters, digits or '-'");
    const shape = { shapeId, key: this._key(opts.page), className, data: normalise(className, data) };
    await this._publishShape(shape);
    this._did(shape.key, { kind: "add", shape, seen: Boolean(this.getShape(shapeId, shape.key)) });
    return shapeId;
  }

  /**
   * Starts a freehand stroke (Pen, Highlighter): `add(x, y)` as the pointer moves (the points
   * go out as segments ~30 times a second), `end()` saves it; `cancel()` drops it.
   */
  beginStroke(className = "Pen", style = {}, opts = {}) {
    return new Stroke(this, className, style, this._key(opts.page));
  }

  _segment({ shapeId, className, key, style }, points, seq) {
    const data = { eventType: "drawingEvent", shapeId, className, seq, data: { points, color: style.color, width: style.width } };
    return this.room.pubMsg({ name: SHAPE, id: `${shapeId}###_SharpsDrawing_${key}`, toID: "__allExceptSender", save: false, data });
  }

  /** Erases a shape (the teacher any; a student with candraw its own). */
  async erase(shapeId, key) {
    const shape = this.getShape(shapeId, this._key(key));
    if (!shape) throw new TKError(103, "no such shape on this page");
    await this._erase(shape);
    this._did(shape.key, { kind: "erase", shape });
  }

  /** A new action of this user: undoable, and what could be redone is gone. */
  _did(key, act) {
    const h = this._hist(key);
    h.undo.push(act);
    if (h.undo.length > UNDO_MAX) h.undo.shift();
    h.redo = [];
    this.room.dispatchEvent("board-history", { page: key });
  }

  /** Takes back this user's last action on the page; resolves false when there is none. */
  async undo(key) {
    const h = this._hist(this._key(key));
    while (h.undo.length) {
      const act = h.undo.pop();
      const exists = Boolean(this.getShape(act.shape.shapeId, act.shape.key));
      // Someone erased or cleared it meanwhile (unless the server has not echoed it yet).
      if (act.kind === "add" && !exists && act.seen) continue;
      if (act.kind === "add") await this._erase(act.shape);
      else await this._publishShape(act.shape);
      h.redo.push(act);
      this.room.dispatchEvent("board-history", { page: act.shape.key });
      return true;
    }
    return false;
  }

  async redo(key) {
    const h = this._hist(this._key(key));
    const act = h.redo.pop();
    if (!act) return false;
    if (act.kind === "add") {
      await this._publishShape(act.shape);
      act.seen = Boolean(this.getShape(act.shape.shapeId, act.shape.key)); // else when echoed
    } else if (this.getShape(act.shape.shapeId, act.shape.key)) await this._erase(act.shape);
    h.undo.push(act);
    this.room.dispatchEvent("board-history", { page: act.shape.key });
    return true;
  }

  /** Removes every shape of a page (teacher, assistant), in one step on the server. */
  clear(key) {
    const k = this._key(key);
    return this.room.pubMsg({ name: SHAPE, id: `clear###_${SHAPE}_${k}`, toID: "__all", save: false, data: { eventType: "clearEvent" } });
  }

  /** Moves (or hides) this user's laser pointer; calls closer than 50 ms apart are merged. */
  laser(x, y, visible = true, key) {
    const k = this._key(key);
    this._laserNext = { x: round4(x), y: round4(y), visible: Boolean(visible), key: k };
    if (this._laserTimer) return Promise.resolve();
    const send = () => {
      const l = this._laserNext;
      this._laserNext = null;
      this._laserTimer = setTimeout(() => {
        this._laserTimer = null;
        if (this._laserNext) send();
      }, LASER_MS);
      return this.room
        .pubMsg({ name: SHAPE, id: `laser###_${SHAPE}_${l.key}`, toID: "__allExceptSender", save: false, data: { eventType: "laserMarkEvent", data: { x: l.x, y: l.y, visible: l.visible } } })
        .catch((err) => this.room.dispatchEvent("board-error", { error: err, code: err.code, message: err.message }));
    };
    return send();
  }

  /** Gives or takes a student's right to draw (teacher, assistant). */
  setCanDraw(userId, allowed) {
    return this.room.changeUserProperty(userId, "__all", { candraw: Boolean(allowed) });
  }
}

/** A freehand stroke being drawn by this user (Board.beginStroke). */
class Stroke {
  constructor(board, className, style, key) {
    this.board = board;
    this.className = className === "Highlighter" ? "Highlighter" : "Pen";
    this.style = { color: style.color || "#000000", width: Number(style.width) || 0.004 };
    this.key = key;
    this.shapeId = newShapeId();
    this.points = [];
    this.pending = [];
    this.seq = 0;
    this.timer = null;
    this.done = false;
    this.chain = Promise.resolve();
  }

  /** One pointer position (page fractions). */
  add(x, y) {
    if (this.done) return;
    const px = round4(x);
    const py = round4(y);
    const n = this.points.length;
    if (n && this.points[n - 2] === px && this.points[n - 1] === py) return;
    if (n >= MAX_POINTS * 2) this._split();
    this.points.push(px, py);
    this.pending.push(px, py);
    if (!this.timer) this.timer = setTimeout(() => this._flush(), SEGMENT_MS);
  }

  _flush() {
    this.timer = null;
    if (!this.pending.length) return;
    const pts = this.pending;
    this.pending = [];
    const seq = this.seq++;
    const which = { shapeId: this.shapeId, className: this.className, key: this.key, style: this.style };
    this.chain = this.chain.then(() => this.board._segment(which, pts, seq)).catch((err) => this._fail(err));
  }

  _fail(err) {
    this.board.room.dispatchEvent("board-error", { error: err, code: err.code, message: err.message });
  }

  /** Too long for one shape: saves what there is and carries on as a new one from the last point. */
  _split() {
    const n = this.points.length;
    const last = [this.points[n - 2], this.points[n - 1]];
    this._flush();
    this._save();
    this.shapeId = newShapeId();
    this.points = [...last];
    this.pending = [...last];
    this.seq = 0;
  }

  _save() {
    if (this.points.length === 2) this.points.push(this.points[0], this.points[1]); // a dot
    const data = { points: this.points, color: this.style.color, width: this.style.width };
    const { shapeId, className, key, board } = this;
    this.chain = this.chain.then(() => board.draw(className, data, { shapeId, page: key }));
    return this.chain;
  }

  /** Saves the stroke as one shape; resolves with its shapeId (null when it had no points). */
  end() {
    if (this.done) return this.chain.then(() => null);
    this.done = true;
    clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
    if (!this.points.length) return Promise.resolve(null);
    return this._save();
  }

  cancel() {
    this.done = true;
    clearTimeout(this.timer);
    this.timer = null;
  }
}

/** A shape's data with coordinates clamped to the page and rounded (four decimals). */
function normalise(className, data) {
  const d = { ...data };
  if (d.color !== undefined && !/^#[0-9a-fA-F]{6}$/.test(String(d.color))) throw new TKError(103, "color is #rrggbb");
  if (className === "Pen" || className === "Highlighter") d.points = (d.points || []).map(round4);
  else if (className === "Text") {
    d.x = round4(d.x);
    d.y = round4(d.y);
    d.text = String(d.text || "");
  } else for (const k of ["x1", "y1", "x2", "y2"]) d[k] = round4(d[k]);
  return d;
}
