// The playback page (/playback/<recordid>/<token>, docs/recordings.md): a recorded lesson
// played again. The lesson's video (composite.mp4), or its sound alone (audio.m4a) while the
// video is not made yet, or a clock when it has neither, drives the time; the board (page and
// shapes), the chat and who was present follow that time from the event log's index
// (timeline.js), so seeking anywhere costs a binary search and one redraw.

import { el } from "/classroom/dom.js";
import { LANGUAGES, makeTranslator, pickLanguage, translatePage } from "/classroom/i18n.js";
import { drawShape, pageImageOf } from "/classroom/shapes.js";
import { buildTimeline, countUpTo, parseLog } from "/playback-page/timeline.js";

const $ = (id) => document.getElementById(id);
const LANG_KEY = "tkroom.lang"; // the classroom's key: one language choice for both pages
const BLANK_ASPECT = 4 / 3;

function storedLang() {
  try {
    return JSON.parse(localStorage.getItem(LANG_KEY) || "null");
  } catch {
    return null;
  }
}

let t = makeTranslator(storedLang() || pickLanguage(navigator.languages || [navigator.language]));
const page = { t, ready: false, error: null }; // for tests and people debugging in the console
window.tkroomPlayback = page;

const pad = (n) => String(n).padStart(2, "0");
/** 1:05 or 1:02:05. */
function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  return h ? `${h}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}` : `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

// ---- the time source -------------------------------------------------------------------------

/** A <video> or <audio> element as the lesson's clock. */
function mediaPlayer(media) {
  return {
    media,
    now: () => media.currentTime * 1000,
    seek: (ms) => {
      media.currentTime = ms / 1000;
    },
    play: () => media.play(),
    pause: () => media.pause(),
    paused: () => media.paused,
    setRate: (r) => {
      media.playbackRate = r;
    },
    length: () => (Number.isFinite(media.duration) ? media.duration * 1000 : 0),
  };
}

/** A clock for a lesson without sound or video: the board and chat play on their own. */
function clockPlayer(length) {
  let at = 0; // ms of the lesson when the clock last started or stopped
  let since = null; // performance.now() when it started, null while paused
  let rate = 1;
  const now = () => Math.min(length, since === null ? at : at + (performance.now() - since) * rate);
  return {
    media: null,
    now,
    seek: (ms) => {
      at = Math.max(0, Math.min(length, ms));
      if (since !== null) since = performance.now();
    },
    play: () => {
      if (now() >= length) at = 0;
      if (since === null) since = performance.now();
      return Promise.resolve();
    },
    pause: () => {
      at = now();
      since = null;
    },
    paused: () => since === null || now() >= length,
    setRate: (r) => {
      at = now();
      if (since !== null) since = performance.now();
      rate = r;
    },
    length: () => length,
  };
}

// ---- the page --------------------------------------------------------------------------------

const view = {
  tl: null,
  info: null,
  player: null,
  duration: 0,
  seeking: false,
  board: { key: "", t: -1, aspect: BLANK_ASPECT, imageUrl: "", count: 0 },
  chatN: -1,
  peopleKey: "",
  raf: 0,
};

function fileOf(fileid) {
  return (view.info.files || []).find((f) => Number(f.fileid) === Number(fileid));
}

function layout() {
  const sheet = $("board-page");
  const canvas = $("board-canvas");
  const avail = $("board-viewport").clientWidth || 320;
  const maxH = Math.max(240, window.innerHeight * 0.62);
  const w = Math.round(Math.min(avail, maxH * view.board.aspect));
  const h = Math.round(w / view.board.aspect);
  sheet.style.width = `${w}px`;
  sheet.style.height = `${h}px`;
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  const cw = Math.round(w * dpr);
  const ch = Math.round(h * dpr);
  if (canvas.width !== cw || canvas.height !== ch) {
    canvas.width = cw;
    canvas.height = ch;
    view.board.t = -1; // everything again at the new size
  }
}

function showPage(p) {
  const f = p.fileid ? fileOf(p.fileid) : null;
  // The page the recording kept, else the room's file as it is now (deleted since: none).
  const url = p.fileid ? (view.info.pages || {})[p.key] || pageImageOf(f, p.currpage) : "";
  const name = p.fileid ? (f && f.filename) || p.filename || String(p.fileid) : t("board.blank");
  $("board-title").textContent = name;
  $("board-pageno").textContent = t("board.pageOf", { n: p.currpage, total: p.pagenum });
  $("board-pageno").dataset.page = String(p.currpage);
  $("board-missing").hidden = !(p.fileid && !url);
  if (p.fileid && !url) $("board-missing").textContent = t("board.noImages", { name });
  if (url === view.board.imageUrl) return;
  view.board.imageUrl = url;
  const img = $("board-image");
  if (!url) {
    img.hidden = true;
    img.removeAttribute("src");
    view.board.aspect = BLANK_ASPECT;
    layout();
    return;
  }
  img.hidden = false;
  img.alt = t("board.pageAlt", { name, n: p.currpage });
  img.onload = () => {
    if (img.src !== new URL(url, location.href).href) return; // a later page turn won
    if (img.naturalWidth && img.naturalHeight) view.board.aspect = img.naturalWidth / img.naturalHeight;
    layout();
    renderBoard(view.player.now(), true);
  };
  img.src = url;
}

/** The board at `ms`: only the new shapes when time moved forward on the same page, else all. */
function renderBoard(ms, force = false) {
  const tl = view.tl;
  const p = tl.pageAt(ms);
  const b = view.board;
  const canvas = $("board-canvas");
  const g = canvas.getContext("2d");
  if (p.key !== b.key) {
    b.key = p.key;
    showPage(p);
    force = true;
  } else {
    $("board-pageno").textContent = t("board.pageOf", { n: p.currpage, total: p.pagenum });
  }
  const added = !force && b.t >= 0 && ms >= b.t ? tl.addedBetween(p.key, b.t, ms) : null;
  if (added) {
    for (const s of added) drawShape(g, canvas.width, canvas.height, s);
    b.count += added.length;
  } else {
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, canvas.width, canvas.height);
    const shapes = tl.shapesAt(p.key, ms);
    for (const s of shapes) drawShape(g, canvas.width, canvas.height, s);
    b.count = shapes.length;
  }
  b.t = ms;
  const sheet = $("board-page");
  sheet.dataset.page = p.key;
  sheet.dataset.shapes = String(b.count);
}

function chatItem(c) {
  const teacher = c.role === 0 || c.role === 1;
  const li = el("li", { "data-from": c.from, "data-t": String(c.t), class: teacher ? "from-teacher" : undefined });
  li.append(el("time", { class: "ts", text: clock(c.t) }), el("span", { class: "from", text: c.nickname }));
  if (teacher) li.append(el("span", { class: "role-tag", text: t(`role.${c.role}`) }));
  li.append(el("span", { class: "body", text: c.text }));
  return li;
}

function renderChat(ms) {
  const tl = view.tl;
  const n = countUpTo(tl.chat, ms);
  if (n === view.chatN) return;
  const log = $("chat-log");
  if (view.chatN >= 0 && n > view.chatN) log.append(...tl.chat.slice(view.chatN, n).map(chatItem));
  else log.replaceChildren(...tl.chat.slice(0, n).map(chatItem));
  view.chatN = n;
  $("chat-empty").hidden = n > 0;
  log.hidden = n === 0;
  log.scrollTop = log.scrollHeight;
}

function renderPeople(ms) {
  const present = view.tl.presentAt(ms).sort((a, b) => a.role - b.role || a.nickname.localeCompare(b.nickname));
  const key = `${t.lang}|${present.map((p) => p.id).join("\u0000")}`;
  if (key === view.peopleKey) return;
  view.peopleKey = key;
  $("people-count").textContent = String(present.length);
  $("people").replaceChildren(
    ...present.map((p) => el("li", { class: "person", "data-user": p.id }, el("span", { class: "name", text: p.nickname }), el("span", { class: "role", text: t(`role.${p.role}`) }))),
  );
}

function renderTime(ms) {
  $("pb-time").textContent = `${clock(ms)} / ${clock(view.duration)}`;
  if (!view.seeking) $("pb-seek").value = String(Math.round(ms));
  $("pb-seek").setAttribute("aria-valuetext", clock(ms));
  $("pb-play").textContent = view.player.paused() ? t("pb.play") : t("pb.pause");
  $("pb-play").dataset.state = view.player.paused() ? "paused" : "playing";
}

/** Everything shown at lesson time `ms`. */
function render(ms = view.player.now(), force = false) {
  const at = Math.max(0, Math.min(view.duration, ms));
  renderBoard(at, force);
  renderChat(at);
  renderPeople(at);
  renderTime(at);
  page.time = at;
}

function tick() {
  view.raf = 0;
  render();
  if (!view.player.paused()) view.raf = requestAnimationFrame(tick);
}

function startTicking() {
  if (!view.raf) view.raf = requestAnimationFrame(tick);
}

function seek(ms) {
  const at = Math.max(0, Math.min(view.duration, ms));
  view.player.seek(at);
  render(at);
}

function renderMarkers() {
  const box = $("pb-markers");
  box.replaceChildren(
    ...view.tl.markers.map((m) => {
      const f = m.page.fileid ? fileOf(m.page.fileid) : null;
      const name = m.page.fileid ? (f && f.filename) || m.page.filename || String(m.page.fileid) : t("board.blank");
      const label = t("pb.marker", { time: clock(m.t), name, n: m.page.currpage });
      const b = el("button", { type: "button", class: "pb-marker", "data-t": String(m.t), "aria-label": label, title: label, onclick: () => seek(m.t) });
      b.style.left = `${view.duration ? (m.t / view.duration) * 100 : 0}%`;
      return b;
    }),
  );
}

function renderHeader() {
  const info = view.info;
  if (!info) return;
  $("pb-name").textContent = info.title || info.serial || "";
  if (info.starttime) $("pb-started").textContent = new Date(info.starttime * 1000).toLocaleString(t.lang === "zh" ? "zh-CN" : "en");
}

// ---- loading -----------------------------------------------------------------------------------

function showError(code, detail) {
  page.error = code;
  $("pb-loading").hidden = true;
  $("pb-view").hidden = true;
  $("pb-error").hidden = false;
  $("pb-error-text").textContent = t(`pb.err.${code}`) === `pb.err.${code}` ? t("pb.err.other") : t(`pb.err.${code}`);
  $("pb-error-code").textContent = t("notice.code", { code });
  $("pb-error").dataset.code = String(code);
  if (detail) $("pb-error-code").title = detail;
}

/** Picks the lesson's clock: its video, else its sound, else a clock of the log's length. */
function choosePlayer() {
  const info = view.info;
  const note = $("pb-media-note");
  const tryMedia = (id, url) =>
    new Promise((resolve) => {
      if (!url) return resolve(null);
      const m = $(id);
      const done = (ok) => {
        m.onloadedmetadata = m.onerror = null;
        resolve(ok ? m : null);
      };
      m.onloadedmetadata = () => done(true);
      m.onerror = () => done(false);
      m.src = url;
    });
  return (async () => {
    const video = await tryMedia("pb-video", info.video);
    if (video) {
      video.hidden = false;
      return mediaPlayer(video);
    }
    const audio = await tryMedia("pb-audio", info.audio);
    if (audio) {
      audio.hidden = false;
      note.hidden = false;
      note.dataset.why = "audio";
      note.textContent = t("pb.audioOnly");
      return mediaPlayer(audio);
    }
    // No sound or video: still being made, failed, or a lesson without any.
    const why = info.video_failed ? "videoFailed" : info.state === 0 ? "processing" : "";
    if (why) {
      note.hidden = false;
      note.dataset.why = why;
      note.textContent = t(`pb.${why}`);
    } else {
      $("pb-nomedia").hidden = false;
    }
    return clockPlayer(Math.max(view.tl.duration, info.duration_ms || 0));
  })();
}

async function load() {
  const body = document.body.dataset.error;
  if (body) return showError(Number(body));
  let info;
  try {
    const resp = await fetch(`${location.pathname.replace(/\/+$/, "")}/info`, { cache: "no-store" });
    info = await resp.json();
    if (info.result !== 0) return showError(info.result, info.msg);
  } catch (err) {
    return showError("load", String(err));
  }
  view.info = info;
  renderHeader();
  if (!info.events) return showError("noLog");
  try {
    const resp = await fetch(info.events, { cache: "no-store" });
    if (!resp.ok) return showError("noLog", `HTTP ${resp.status}`);
    view.tl = buildTimeline(parseLog(await resp.text()));
  } catch (err) {
    return showError("noLog", String(err));
  }
  view.player = await choosePlayer();
  view.duration = Math.max(view.tl.duration, view.player.length(), 0);
  page.duration = view.duration;
  page.timeline = view.tl;
  page.player = view.player;
  wire();
  $("pb-loading").hidden = true;
  $("pb-view").hidden = false;
  layout();
  renderMarkers();
  render(0, true);
  page.ready = true;
  document.body.dataset.ready = "1";
}

function wire() {
  const seekBar = $("pb-seek");
  seekBar.max = String(Math.max(1, Math.round(view.duration)));
  seekBar.addEventListener("input", () => {
    view.seeking = true;
    seek(Number(seekBar.value));
  });
  // step="any" keeps the bar's time exact; the keys move it by 5 s (PageUp/PageDown: a minute).
  const keySteps = { ArrowRight: 5000, ArrowUp: 5000, ArrowLeft: -5000, ArrowDown: -5000, PageUp: 60000, PageDown: -60000 };
  seekBar.addEventListener("keydown", (e) => {
    if (e.key in keySteps) seek(view.player.now() + keySteps[e.key]);
    else if (e.key === "Home") seek(0);
    else if (e.key === "End") seek(view.duration);
    else return;
    e.preventDefault();
  });
  seekBar.addEventListener("change", () => {
    view.seeking = false;
    seek(Number(seekBar.value));
  });
  $("pb-play").addEventListener("click", async () => {
    if (view.player.paused()) {
      if (view.player.now() >= view.duration) view.player.seek(0);
      try {
        await view.player.play();
      } catch {
        // autoplay refused or the media failed: the button stays "Play"
      }
      startTicking();
    } else {
      view.player.pause();
    }
    render();
  });
  $("pb-speed").addEventListener("change", () => view.player.setRate(Number($("pb-speed").value)));
  const m = view.player.media;
  if (m) {
    for (const ev of ["play", "pause", "seeked", "ended", "ratechange"]) m.addEventListener(ev, () => render());
    m.addEventListener("play", startTicking);
  }
  document.addEventListener("keydown", (e) => {
    if (/INPUT|SELECT|BUTTON|TEXTAREA/.test(document.activeElement && document.activeElement.tagName)) return;
    if (e.key === " ") $("pb-play").click();
    else if (e.key === "ArrowRight") seek(view.player.now() + 5000);
    else if (e.key === "ArrowLeft") seek(view.player.now() - 5000);
    else return;
    e.preventDefault();
  });
  new ResizeObserver(() => {
    layout();
    render(view.player.now(), true);
  }).observe($("board-viewport"));
}

/** For tests and the console: jump to lesson time `ms` (as the seek bar does). */
page.seek = (ms) => seek(ms);

// ---- language ----------------------------------------------------------------------------------

function setLanguage(lang) {
  t = makeTranslator(lang);
  page.t = t;
  try {
    localStorage.setItem(LANG_KEY, JSON.stringify(lang));
  } catch {
    // private mode: the choice lasts until the page closes
  }
  translatePage(document, t);
  document.title = t("pb.title");
  $("lang-select").value = lang;
  if (page.error !== null) showError(page.error);
  renderHeader();
  if (page.ready) {
    view.board.key = "";
    view.board.imageUrl = "";
    view.chatN = -1;
    view.peopleKey = "";
    renderMarkers();
    const why = $("pb-media-note").dataset.why;
    if (why) $("pb-media-note").textContent = t(why === "audio" ? "pb.audioOnly" : `pb.${why}`);
    render(view.player.now(), true);
  }
}

const select = $("lang-select");
select.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => el("option", { value: code, lang: code === "zh" ? "zh-CN" : "en", text: name })));
select.addEventListener("change", () => setLanguage(select.value));
setLanguage(t.lang);
load();
