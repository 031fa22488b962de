// A recorded lesson's event log (docs/recordings.md, events.jsonl) turned once into a time
// index, so that the state at any moment (page shown, board shapes, chat, who was present)
// is found by binary search rather than by replaying the log from the start: a 3-hour lesson
// seeks as fast as a 3-minute one. Pure: no DOM, no network.

const SHOW_PAGE_ID = "DocumentFilePage_ShowPage";
const PAGE_COUNT_ID = "WBPageCount";
const SHAPE_CLASSES = new Set(["Pen", "Highlighter", "Line", "Arrow", "Rectangle", "Ellipse", "Text"]);
const SHAPE_MSG_RE = /^([A-Za-z0-9-]{1,64})###_SharpsChange_(\d+)_(\d+)$/;
// Chat everyone in the class saw; a private message stays private in the recording too.
const PUBLIC_CHAT = new Set([undefined, null, "", "__all", "__allExceptSender", "__allExceptAuditor"]);
const MAX_LINES = 2_000_000; // a log longer than this is cut (the page would not fit in memory anyway)

const num = (v, d = 0) => (typeof v === "number" && Number.isFinite(v) ? v : d);

/** The first index in sorted `arr` whose `key(item)` is greater than `t` (= how many are <= t). */
export function countUpTo(arr, t, key = (x) => x.t) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(arr[mid]) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The objects of an events.jsonl text; lines that are not JSON objects are skipped. */
export function parseLog(text) {
  const out = [];
  let start = 0;
  while (start < text.length && out.length < MAX_LINES) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (!line) continue;
    try {
      const obj = JSON.parse(line);
      if (obj && typeof obj === "object" && !Array.isArray(obj)) out.push(obj);
    } catch {
      // a torn last line (the node died while writing): the rest still plays
    }
  }
  return out;
}

function pageOf(data, blankPages) {
  const d = data && typeof data === "object" ? data : {};
  const fileid = Number.isInteger(d.fileid) && d.fileid >= 0 ? d.fileid : 0;
  const currpage = Number.isInteger(d.currpage) && d.currpage >= 1 ? d.currpage : 1;
  const pagenum = fileid === 0 ? blankPages : Number.isInteger(d.pagenum) && d.pagenum >= currpage ? d.pagenum : currpage;
  return {
    fileid,
    currpage,
    pagenum,
    key: `${fileid}_${currpage}`,
    filename: typeof d.filename === "string" ? d.filename : "",
    filetype: typeof d.filetype === "string" ? d.filetype : "",
  };
}

function chatText(message) {
  if (typeof message === "string") return message;
  if (message && typeof message.msg === "string") return message.msg;
  return JSON.stringify(message ?? "");
}

/**
 * Builds the index of a parsed log. Answers {duration, startedAt, room, pages, markers,
 * chat, people, events, shapesAt(key, t), pageAt(t), chatUpTo(t), presentAt(t), changesBetween(a, b)}.
 */
export function buildTimeline(lines) {
  const first = lines.find((l) => l.kind === "start") || {};
  const tl = {
    startedAt: num(first.at_ms),
    room: first.room && typeof first.room === "object" ? first.room : {},
    duration: 0,
    pages: [], // {t, page}: the page shown from t on (sorted by t)
    markers: [], // page turns after the start, for the timeline
    chat: [], // {t, from, nickname, role, text, ts}
    people: [], // {id, nickname, role, from, to}
    lives: new Map(), // page key -> [{shapeId, seq, className, data, fromID, from, to}] sorted by from
    changes: [], // {t, key, add: bool}: every board change, for the incremental drawing
    ended: false,
  };
  let shown = null;
  let blankPages = 1;
  let seqAuto = 0;
  const alive = new Map(); // msg id -> its life (a shape on the board now)
  const present = new Map(); // user id -> its presence interval

  const pushPage = (t) => {
    const page = pageOf(shown, blankPages);
    const last = tl.pages[tl.pages.length - 1];
    if (last && last.page.key === page.key && last.page.pagenum === page.pagenum && last.page.filename === page.filename) return;
    if (last && last.t === t) tl.pages.pop();
    tl.pages.push({ t, page });
    if (t > 0 && (!last || last.page.key !== page.key)) tl.markers.push({ t, page });
  };

  const endLife = (id, t) => {
    const life = alive.get(id);
    if (!life) return;
    life.to = t;
    alive.delete(id);
    tl.changes.push({ t, key: life.key, add: false });
  };

  const addShape = (m, t) => {
    const parsed = SHAPE_MSG_RE.exec(String(m.id || ""));
    const d = m.data;
    if (!parsed || !d || typeof d !== "object" || d.eventType !== "shapeSaveEvent") return false;
    if (!SHAPE_CLASSES.has(d.className) || !d.data || typeof d.data !== "object") return false;
    const key = `${Number(parsed[2])}_${Number(parsed[3])}`;
    endLife(m.id, t); // the same id again replaces the shape
    const life = { shapeId: parsed[1], key, seq: num(m.seq, ++seqAuto), className: d.className, data: d.data, fromID: m.fromID, from: t, to: Infinity };
    seqAuto = Math.max(seqAuto, life.seq);
    if (!tl.lives.has(key)) tl.lives.set(key, []);
    tl.lives.get(key).push(life);
    alive.set(m.id, life);
    tl.changes.push({ t, key, add: true });
    return true;
  };

  const saved = (m, t) => {
    if (!m || typeof m !== "object") return;
    if (m.id === SHOW_PAGE_ID || m.name === "ShowPage") {
      shown = m.data;
      pushPage(t);
    } else if (m.id === PAGE_COUNT_ID) {
      const n = Number(m.data && m.data.totalPage);
      blankPages = Number.isInteger(n) && n >= 1 ? n : 1;
      pushPage(t);
    } else {
      addShape(m, t);
    }
  };

  const deleted = (m, t) => {
    if (!m || typeof m !== "object") return;
    if (m.id === SHOW_PAGE_ID) {
      shown = null;
      pushPage(t);
    } else if (m.id === PAGE_COUNT_ID) {
      blankPages = 1;
      pushPage(t);
    } else {
      endLife(m.id, t);
    }
  };

  const clearPage = (m, t) => {
    const parsed = /^[^#]*###_SharpsChange_(\d+)_(\d+)$/.exec(String(m.id || ""));
    if (!parsed) return;
    const key = `${Number(parsed[1])}_${Number(parsed[2])}`;
    for (const [id, life] of [...alive]) if (life.key === key) endLife(id, t);
  };

  const join = (u, t) => {
    if (!u || typeof u.id !== "string") return;
    const p = u.properties && typeof u.properties === "object" ? u.properties : {};
    const old = present.get(u.id);
    if (old) old.to = t; // announced again: a second login replaces the first
    const life = { id: u.id, nickname: String(p.nickname ?? u.id), role: num(p.role, 2), from: t, to: Infinity };
    tl.people.push(life);
    present.set(u.id, life);
  };

  const leave = (id, t) => {
    const life = present.get(id);
    if (!life) return;
    life.to = t;
    present.delete(id);
  };

  pushPage(0);
  for (const m of Array.isArray(first.saved) ? first.saved : []) saved(m, 0);
  if (first.board && typeof first.board === "object") {
    // The join answer's compact form, should a writer keep it (docs/board.md).
    for (const [key, entries] of Object.entries(first.board)) {
      for (const e of Array.isArray(entries) ? entries : []) {
        if (!Array.isArray(e)) continue;
        const [shapeId, fromID, seq, className, data] = e;
        addShape({ id: `${shapeId}###_SharpsChange_${key}`, fromID, seq, data: { eventType: "shapeSaveEvent", shapeId, className, data } }, 0);
      }
    }
  }
  for (const u of Array.isArray(first.members) ? first.members : []) join(u, 0);

  let lastT = 0;
  for (const line of lines) {
    if (line === first) continue;
    // Times never run backwards in the index, whatever a line says.
    const t = Math.max(lastT, num(line.t, lastT));
    lastT = t;
    if (line.kind === "end") {
      tl.ended = true;
      break;
    }
    if (line.kind !== "event") continue;
    const d = line.data && typeof line.data === "object" ? line.data : {};
    switch (line.name) {
      case "pubMsg":
        if (d.name === "SharpsChange" && d.data && d.data.eventType === "clearEvent") clearPage(d, t);
        else if (d.save !== false) saved(d, t);
        break;
      case "delMsg":
        deleted(d, t);
        break;
      case "participantJoined":
        join(d, t);
        break;
      case "participantLeft":
        leave(d.id, t);
        break;
      case "sendMessage":
        if (PUBLIC_CHAT.has(d.toID)) {
          tl.chat.push({ t, from: String(d.fromID ?? ""), nickname: String(d.nickname ?? d.fromID ?? ""), role: num(d.role, 2), text: chatText(d.message), ts: num(d.ts, tl.startedAt + t) });
        }
        break;
      default:
        break; // unknown names are skipped (docs/recordings.md)
    }
  }
  tl.duration = lastT;
  for (const lives of tl.lives.values()) lives.sort((a, b) => a.from - b.from || a.seq - b.seq);

  /** The page shown at t. */
  tl.pageAt = (t) => tl.pages[Math.max(0, countUpTo(tl.pages, t) - 1)].page;
  /** The shapes on page `key` at t, in drawing (seq) order. */
  tl.shapesAt = (key, t) => {
    const lives = tl.lives.get(key) || [];
    const n = countUpTo(lives, t, (l) => l.from);
    const out = [];
    for (let i = 0; i < n; i++) if (lives[i].to > t) out.push(lives[i]);
    return out.sort((a, b) => a.seq - b.seq);
  };
  /** The shapes added to page `key` in (a, b], when nothing there was removed meanwhile; else null. */
  tl.addedBetween = (key, a, b) => {
    const i = countUpTo(tl.changes, a);
    const j = countUpTo(tl.changes, b);
    for (let k = i; k < j; k++) if (tl.changes[k].key === key && !tl.changes[k].add) return null;
    const lives = tl.lives.get(key) || [];
    const from = countUpTo(lives, a, (l) => l.from);
    const to = countUpTo(lives, b, (l) => l.from);
    return lives.slice(from, to).filter((l) => l.to > b);
  };
  /** The public chat said up to t. */
  tl.chatUpTo = (t) => tl.chat.slice(0, countUpTo(tl.chat, t));
  /** Who was in the class at t. */
  tl.presentAt = (t) => tl.people.filter((p) => p.from <= t && p.to > t);
  return tl;
}
