// The classroom page: a join form, then the class (board, stage, participants, chat,
// courseware) with controls by role. The board is board.js, the courseware list courseware.js,
// the classroom tools (answer card, buzzer, timer, pick, trophies) tools.js. Everything goes
// through tkroom.js; the page keeps no state of its
// own that the room does not also have, so a late joiner or a reconnect sees the same class.

import TK from "/sdk/tkroom.js";
import Hls from "/classroom/vendor/hls.js";
import { createBoard } from "/classroom/board.js";
import { createCourseware } from "/classroom/courseware.js";
import { el } from "/classroom/dom.js";
import { createTools } from "/classroom/tools.js";
import { LANGUAGES, makeTranslator, pickLanguage, translatePage } from "/classroom/i18n.js";

const $ = (id) => document.getElementById(id);
const serial = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const query = new URLSearchParams(location.search);

// What survives a reload: the language (every room, localStorage) and, per tab and room
// (sessionStorage), who we joined as and how our camera and microphone were set, so a reload
// comes back as the same user (the server then replaces the old session at once).
const LANG_KEY = "tkroom.lang";
const SESSION_KEY = `tkroom.session.${serial}`;

function storageGet(store, key) {
  try {
    return JSON.parse(store.getItem(key) || "null");
  } catch {
    return null;
  }
}

function storageSet(store, key, value) {
  try {
    if (value === null) store.removeItem(key);
    else store.setItem(key, JSON.stringify(value));
  } catch {
    // Private mode or storage full: the page works, a reload just starts afresh.
  }
}

function saved() {
  return storageGet(sessionStorage, SESSION_KEY);
}

function save(patch) {
  const cur = saved();
  if (cur) storageSet(sessionStorage, SESSION_KEY, { ...cur, ...patch });
}

let t = makeTranslator(storageGet(localStorage, LANG_KEY) || pickLanguage(navigator.languages || [navigator.language]));

const room = TK.Room();
const page = { room, t, notices: [], chat: [] };
window.tkroomPage = page; // for people debugging in the console, and for tests

const SUPER = new Set([0, 1]);
const onStage = (u) => (u.properties.publishstate || 0) > 0;
const hasAudio = (s) => s === 1 || s === 3;
const hasVideo = (s) => s === 2 || s === 3;

function me() {
  return room.getMySelf();
}

function isSuper() {
  return Boolean(me()) && SUPER.has(me().properties.role);
}

// ---- notices -----------------------------------------------------------------------------

// How long a notice stays (ms); a dismiss button closes it sooner. Autoplay notices stay
// until playback resumes, since they wait for a click.
const NOTICE_MS = { info: 5000, warn: 12000, error: 20000 };

function showNotice(kind, code, ns, message, extra = {}) {
  const box = $("notices");
  const own = ns === "page" ? message : t.code(ns, code);
  // The server's and the SDK's own sentences are English: shown as a detail line in English,
  // and in another language only when the page has no sentence of its own for the code.
  const text = own || (t.lang === "en" ? message : t("notice.unknown")) || t("notice.unknown");
  const key = `${kind}:${ns}:${code}`;
  for (const old of box.querySelectorAll(`[data-key="${CSS.escape(key)}"]`)) old.remove();
  const item = el("div", { class: `notice ${kind}`, "data-key": key, "data-code": String(code) });
  const body = el("div", { class: "notice-body" });
  body.append(el("span", { class: "text", text }));
  if (ns !== "page") body.append(el("span", { class: "code", text: t("notice.code", { code }) }));
  if (message && message !== text && (t.lang === "en" || !own)) body.append(el("div", { class: "muted detail", text: message }));
  else if (message) item.title = message;
  item.append(body);
  if (extra.resumable) {
    item.append(
      el("button", {
        type: "button",
        class: "primary",
        text: t("ctl.playSound"),
        onclick: () => room.resumePlayback().then((ok) => ok && item.remove()),
      }),
    );
  }
  item.append(el("button", { type: "button", text: t("notice.dismiss"), onclick: () => item.remove() }));
  box.append(item);
  page.notices.push({ kind, code, ns, message: text });
  if (!extra.resumable) setTimeout(() => item.remove(), NOTICE_MS[kind] || NOTICE_MS.error);
}

function clearNotices(kind) {
  for (const n of $("notices").querySelectorAll(`.notice.${kind}`)) n.remove();
}

/** A sentence of the page's own (already translated), with no code. */
function showInfo(text) {
  showNotice("info", 0, "page", text);
}

function showError(err, ns = "room") {
  showNotice("error", err.code ?? 2510, ns, err.message);
}

// Notices the SDK raises about this browser's devices carry source "sdk"; the rest come from
// the room, where the same number can mean something else (153: camera busy vs recording on).
room.on("room-error-notice", (ev) => showNotice("error", ev.code, ev.source === "sdk" ? "sdk" : "room", ev.message, ev));
room.on("room-warn-notice", (ev) => showNotice("warn", ev.code, "warn", ev.message));

// ---- the live stream (role 3) -------------------------------------------------------------

// A live viewer whose checkroom answer has pullinfo.hls watches the class as one composed
// stream (the board, the cameras, the sound) instead of subscribing to every camera.
room.on("room-checkroom", (ev) => {
  const hls = ev.message && ev.message.pullinfo && ev.message.pullinfo.hls;
  page.live = typeof hls === "string" ? hls : null;
  if (page.live) room.options.autoSubscribeAV = false;
});

const LIVE_RETRY_MS = 2000;

function startLive() {
  const video = $("live-video");
  $("live").hidden = false;
  $("board").hidden = true;
  $("stage").hidden = true;
  $("stage-empty").hidden = true;
  if (page.hls || video.src) return;
  $("live-status").textContent = t("live.waiting");
  video.addEventListener("playing", () => ($("live-status").textContent = ""));
  if (Hls.isSupported()) {
    // 1 s segments, listed about 1 s after their last frame: play 1.5 s behind the live edge
    // (bench/egress/live.py measures it), and catch up when more than 6 s behind.
    const hls = new Hls({ lowLatencyMode: true, liveSyncDuration: 1.5, liveMaxLatencyDuration: 6,
                          maxLiveSyncPlaybackRate: 1.2, enableWorker: false });
    page.hls = hls;
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal || page.hls !== hls) return;
      // The stream starts a few seconds after the first viewer joins, and comes back after a
      // restart: load it again.
      setTimeout(() => page.hls === hls && hls.loadSource(page.live), LIVE_RETRY_MS);
    });
    hls.loadSource(page.live);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = page.live; // Safari plays HLS itself
  } else {
    $("live-status").textContent = t("live.unsupported");
    return;
  }
  video.play().catch(() => {});
}

function stopLive() {
  if (page.hls) page.hls.destroy();
  page.hls = null;
  $("live-video").removeAttribute("src");
}

// ---- joining -----------------------------------------------------------------------------

function setConn(text) {
  $("conn-state").textContent = text;
}

async function join(nickname, password, loginkey, userid) {
  $("join-button").disabled = true;
  $("join-status").textContent = userid ? t("join.resuming") : t("join.joining");
  try {
    await room.init("", undefined, undefined, false, { autoSubscribeAV: true });
    const params = loginkey ? { serial, loginkey } : { serial, password };
    // A link may name the role (e.g. ?userrole=3 for the live audience); the password decides.
    if (query.get("userrole") !== null) params.userrole = query.get("userrole");
    await room.joinroom(null, null, nickname, userid || undefined, params, {});
    const before = saved();
    storageSet(sessionStorage, SESSION_KEY, {
      ...(before && before.userid === me().id ? before : {}),
      userid: me().id,
      nickname,
      password: loginkey ? undefined : password,
      loginkey: loginkey || undefined,
    });
    $("join-status").textContent = "";
  } catch (err) {
    $("join-status").textContent = "";
    $("join-button").disabled = false;
    $("join-form").hidden = false;
    if (userid) storageSet(sessionStorage, SESSION_KEY, null);
    showError(err);
    explainRefusedTls(err);
  }
}

/** A wss:// socket that cannot open while HTTPS to the same node worked is, almost always, a
 * certificate the browser refused (a wrong name, an expired one): say so, since the browser
 * tells the page nothing more than "failed". */
function explainRefusedTls(err) {
  const url = String(room.signalUrl || "");
  if (err.code !== 2600 || !url.startsWith("wss:")) return;
  let host = url;
  try {
    host = new URL(url).host;
  } catch {}
  showNotice("error", 2600, "page", t("join.secureRefused", { host }));
}

$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const nickname = $("nickname").value.trim();
  if (!nickname) {
    $("join-status").textContent = t("join.needName");
    $("nickname").focus();
    return;
  }
  join(nickname, $("password").value, null);
});

room.on("room-connected", (ev) => {
  clearNotices("error");
  $("join-view").hidden = true;
  $("class-view").hidden = false;
  $("class-timer").hidden = false;
  const props = room.getRoomProperties();
  if (props.roomname) {
    $("room-title").textContent = props.roomname;
    document.title = `${props.roomname} — tkroom`;
  }
  const role = me().properties.role;
  $("role-badge").hidden = false;
  $("role-badge").textContent = t(`role.${role}`);
  document.body.dataset.role = String(role);
  setConn("");
  renderAll();
  boardView.joined();
  toolsView.joined();
  courseware.load();
  loadGroups();
  restoreMedia();
  if (page.live) startLive();
});

/** After a reload (or a rejoin): the chosen devices again and, where the role may turn them
 * on by itself, the camera and microphone as they were. */
async function restoreMedia() {
  const s = saved();
  if (!s || s.userid !== me().id) return;
  try {
    for (const kind of ["audio", "video"]) if (s.devices && s.devices[kind]) await room.setDevice(kind, s.devices[kind]);
    const want = s.publishstate || 0;
    if (want > 0 && isSuper() && (me().properties.publishstate || 0) === 0) await room.changeUserPublish(me().id, want);
  } catch (err) {
    showError(err);
  }
}

room.on("room-userproperty-changed", (ev) => {
  if (me() && ev.user && ev.user.id === me().id && "publishstate" in (ev.message || {})) {
    save({ publishstate: ev.message.publishstate || 0 });
  }
});
room.on("room-reconnecting", (ev) => setConn(t("conn.reconnecting", { n: ev.number })));
room.on("room-reconnected", () => {
  setConn(t("conn.reconnected"));
  renderAll();
  setTimeout(() => setConn(""), 3000);
});
room.on("room-disconnected", (ev) => {
  if (!ev.willReconnect) setConn(t("conn.lost"));
});
room.on("room-participant_evicted", (ev) => {
  const replaced = ev.reason && ev.reason.code === 5208;
  // Replaced by a newer window of the same user: that window owns the saved session now.
  if (!replaced) storageSet(sessionStorage, SESSION_KEY, null);
  endClass(replaced ? t("conn.replaced") : t("conn.evicted"));
});
room.on("room-leaveroom", () => {
  storageSet(sessionStorage, SESSION_KEY, null);
  endClass(t("conn.left"));
});

function endClass(text) {
  stopLive();
  closeDevicePanel();
  $("class-timer").hidden = true;
  $("rec-indicator").hidden = true;
  $("class-view").hidden = true;
  $("join-view").hidden = false;
  $("join-form").hidden = true;
  const note = el("p", { class: "card", id: "ended", role: "status", text });
  $("join-view").replaceChildren(note);
  for (const a of document.querySelectorAll("audio[data-userid]")) a.remove();
}

// ---- rendering ---------------------------------------------------------------------------

let renderQueued = false;
function renderAll() {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    if (!me()) return;
    renderControls();
    renderStage();
    renderPeople();
    renderChatState();
    renderTimer();
  });
}

for (const ev of [
  "room-participant_join",
  "room-participant_leave",
  "room-userproperty-changed",
  "room-pubmsg",
  "room-delmsg",
  "room-msglist",
  "room-remote-stream-added",
  "room-remote-stream-removed",
]) {
  // The board's own messages (up to 30 a second while someone draws) are board.js's business,
  // the live tally of an answer card (up to 5 a second) tools.js's.
  room.on(ev, (e) => (e.message && (e.message.name === "SharpsChange" || e.message.name === "AnswerCount") ? null : renderAll()));
}

function msg(id) {
  return room.getSavedMessage(id);
}

function button(key, onclick, opts = {}) {
  return el("button", {
    type: "button",
    text: t(key),
    "data-action": opts.action || key,
    "aria-pressed": opts.pressed === undefined ? undefined : String(Boolean(opts.pressed)),
    class: opts.class,
    disabled: opts.disabled,
    onclick: () => Promise.resolve(onclick()).catch((err) => showError(err)),
  });
}

function toolGroup(labelKey, name, items) {
  const box = el("div", { class: "tool-group", role: "group", "aria-label": t(labelKey), "data-group": name });
  box.append(el("span", { class: "tool-label", "aria-hidden": "true", text: t(labelKey) }), ...items.filter(Boolean));
  return box;
}

/** The own publishstate for camera/microphone on or off (a student stays on stage: 4). */
function setMine(audio, video) {
  const state = audio && video ? 3 : audio ? 1 : video ? 2 : me().properties.role === 2 ? 4 : 0;
  return room.changeUserPublish(me().id, state);
}

function renderControls() {
  const box = $("controls");
  const role = me().properties.role;
  const state = me().properties.publishstate || 0;
  const groups = [];
  const begun = msg("ClassBegin");
  if (isSuper()) {
    const recording = Boolean(begun && begun.data && begun.data.record);
    const banned = Boolean(msg("EveryoneBanChat"));
    groups.push(
      toolGroup("tb.class", "class", [
        begun
          ? button("ctl.end", endTheClass, { action: "class-end" })
          : button("ctl.begin", () => room.beginClass(), { action: "class-begin", class: "primary" }),
        recording
          ? button("ctl.recordStop", () => room.stopServerRecord(), { action: "record-stop" })
          : button("ctl.recordStart", () => room.startServerRecord({ recordType: "0" }), { action: "record-start" }),
        button("ctl.audioOnly", () => room.switchOnlyAudioRoom(!room.isOnlyAudioRoom()), {
          action: "audio-only",
          pressed: room.isOnlyAudioRoom(),
        }),
        button(
          "ctl.banAll",
          () =>
            banned
              ? room.delMsg("EveryoneBanChat", "EveryoneBanChat", "__all")
              : room.pubMsg({ name: "EveryoneBanChat", id: "EveryoneBanChat", toID: "__all", save: true, data: {} }),
          { action: "ban-all", pressed: banned },
        ),
      ]),
    );
    groups.push(toolGroup("tb.groups", "groups", groupControls()));
    groups.push(toolGroup("tb.tools", "tools", toolsView.controls()));
  }
  const media = [];
  if (role === 0 || role === 1 || (role === 2 && onStage(me()))) {
    const a = hasAudio(state);
    const v = hasVideo(state);
    if (!a && !v) media.push(button("ctl.camOn", () => room.publishAV(), { action: "av-on", class: "primary" }));
    media.push(
      v
        ? button("ctl.cameraOff", () => setMine(a, false), { action: "cam-off" })
        : button("ctl.cameraOn", () => setMine(a, true), { action: "cam-on" }),
      a
        ? button("ctl.micOff", () => setMine(false, v), { action: "mic-off" })
        : button("ctl.micOn", () => setMine(true, v), { action: "mic-on" }),
    );
    if (a || v) media.push(button("ctl.camOff", () => room.changeUserPublish(me().id, role === 2 ? 4 : 0), { action: "av-off" }));
    media.push(button("ctl.devices", openDevicePanel, { action: "devices" }));
  }
  if (role === 0 || role === 1) {
    media.push(
      room.pubs && room.pubs.has("screen")
        ? button("ctl.shareStop", () => room.stopShareScreen().then(renderAll), { action: "share-stop" })
        : button("ctl.share", () => room.startShareScreen().then(renderAll), { action: "share" }),
    );
  }
  if (media.length) groups.push(toolGroup("tb.media", "media", media));
  const mine = [];
  if (role === 2) {
    const raised = Boolean(me().properties.raisehand);
    mine.push(
      button(raised ? "ctl.handDown" : "ctl.hand", () => room.changeUserProperty(me().id, "__all", { raisehand: !raised }), {
        action: "hand",
        pressed: raised,
      }),
    );
    if (onStage(me())) mine.push(button("ctl.leaveStage", () => room.changeUserPublish(me().id, 0), { action: "leave-stage" }));
  }
  mine.push(button("ctl.leave", () => room.leaveroom(), { action: "leave", class: "danger" }));
  groups.push(toolGroup("tb.me", "me", mine));
  box.replaceChildren(...groups);
}

/** Ends the class: ClassBegin goes, and everyone on stage is taken off it (each page also
 * turns its own devices off when it sees the class end, in case this one cannot). */
async function endTheClass() {
  await room.endClass();
  const ids = Object.values(room.getUsers())
    .filter((u) => onStage(u) && u.id !== me().id)
    .map((u) => u.id);
  if (ids.length) await room.batchChangeUserProperty(ids, "__all", { publishstate: 0, raisehand: false });
}

// ---- breakout groups -------------------------------------------------------------------------

// The room's groups (ClientAPI getgrouplist) and which of them the teacher ticked; kept here
// because the controls are re-rendered on every change.
let groupList = [];
const groupsOff = new Set();

async function loadGroups() {
  if (!isSuper()) return;
  try {
    groupList = await room.getGroupList();
  } catch (err) {
    groupList = [];
    showError(err);
  }
  renderAll();
}

function groupName(id) {
  const g = groupList.find((x) => x.groupid === String(id));
  return g ? g.groupname : String(id);
}

function groupControls() {
  if (!groupList.length) return [el("span", { class: "muted", id: "groups-none", text: t("groups.none") })];
  const set = el("fieldset", { class: "groups-pick", id: "groups-pick" });
  set.append(el("legend", { class: "visually-hidden", text: t("groups.pick") }));
  for (const g of groupList) {
    const box = el("input", { type: "checkbox", value: g.groupid, checked: !groupsOff.has(g.groupid) });
    box.addEventListener("change", () => (box.checked ? groupsOff.delete(g.groupid) : groupsOff.add(g.groupid)));
    set.append(el("label", { "data-groupid": g.groupid }, box, el("span", { text: g.groupname })));
  }
  return [set, button("ctl.groups", openGroups, { action: "groups-open" }), button("ctl.groupsEnd", closeGroups, { action: "groups-close" })];
}

async function openGroups() {
  const groups = groupList.map((g) => g.groupid).filter((id) => !groupsOff.has(id));
  if (!groups.length) return;
  const students = [...Object.values(room.getUsers())].filter((u) => u.properties.role === 2);
  await Promise.all(
    students.map((u, i) =>
      room.pubMsg({ name: "GroupAssign", id: `GroupAssign_${u.id}`, toID: u.id, save: false, data: { groupid: groups[i % groups.length], groupname: groupName(groups[i % groups.length]) } }),
    ),
  );
}

async function closeGroups() {
  const students = [...Object.values(room.getUsers())].filter((u) => u.properties.role === 2);
  await Promise.all(
    students.map((u) => room.pubMsg({ name: "GroupAssign", id: `GroupAssign_${u.id}`, toID: u.id, save: false, data: { groupid: null } })),
  );
}

room.on("room-pubmsg", async (ev) => {
  const m = ev.message;
  if (m.name !== "GroupAssign" || !me() || m.toID !== me().id) return;
  try {
    if (m.data && m.data.groupid) {
      await room.joinGroup(m.data.groupid);
      showInfo(t("notice.groupMoved", { g: m.data.groupname || m.data.groupid }));
    } else {
      await room.leaveGroup();
    }
  } catch (err) {
    showError(err);
  }
});

/** The failure code of a user's camera ("video") or microphone ("audio") while it should be on,
 * from the devicestate property the SDK keeps; 0 when it works or is off. */
function deviceFailure(u, kind) {
  const ds = u.properties.devicestate;
  const wanted = kind === "video" ? hasVideo(u.properties.publishstate) : hasAudio(u.properties.publishstate);
  return (wanted && ds && Number(ds[kind])) || 0;
}

function stageUsers() {
  const users = Object.values(room.getUsers()).filter((u) => onStage(u) && u.properties.role !== 4);
  return users.sort((a, b) => a.properties.role - b.properties.role || String(a.properties.nickname).localeCompare(String(b.properties.nickname)));
}

function renderStage() {
  if (page.live) return; // the live stream shows the stage
  const stage = $("stage");
  const users = stageUsers();
  const keep = new Set(users.map((u) => u.id));
  for (const tile of [...stage.querySelectorAll(".tile:not([data-screen])")]) {
    if (!keep.has(tile.dataset.userid)) {
      room.unplayVideo(tile.dataset.userid);
      room.unplayAudio(tile.dataset.userid);
      tile.remove();
    }
  }
  for (const [i, u] of users.entries()) {
    // The first on stage (the teacher, when there) gets the large tile and the camera's high
    // simulcast layer; the others are thumbnails on the low layer (docs/media.md).
    const layer = i === 0 ? "high" : "low";
    let tile = stage.querySelector(`.tile[data-userid="${CSS.escape(u.id)}"]`);
    if (!tile) {
      tile = el("figure", { class: "tile", "data-userid": u.id });
      tile.append(el("figcaption", { class: "label" }));
      stage.append(tile);
      room.playVideo(u.id, tile, { mode: "cover", layer });
      room.playAudio(u.id);
    } else if (tile.dataset.layer !== layer) {
      room.playVideo(u.id, tile, { mode: "cover", layer });
    }
    tile.dataset.layer = layer;
    tile.classList.toggle("large", i === 0 && users.length > 1);
    if (i === 0 && stage.firstElementChild !== tile) stage.prepend(tile);
    const name = u.properties.nickname || u.id;
    tile.querySelector(".label").textContent = u.id === me().id ? `${name} (${t("p.you")})` : name;
    toolsView.decorateTile(tile, u);
    tile.classList.toggle("audio-only", !hasVideo(u.properties.publishstate) || room.isOnlyAudioRoom());
    const video = tile.querySelector("video");
    if (video) video.setAttribute("aria-label", name);
    // A device that failed on the user's side: say so on the tile instead of a black box.
    const failed = ["video", "audio"]
      .filter((kind) => deviceFailure(u, kind))
      .map((kind) => t(`dev.failed.${kind}`, { code: deviceFailure(u, kind) }));
    let warn = tile.querySelector(".device-failed");
    if (failed.length) {
      if (!warn) {
        warn = el("p", { class: "device-failed", role: "status" });
        tile.append(warn);
      }
      warn.textContent = `⚠ ${failed.join(" · ")}`;
      tile.dataset.devicefailed = failed.length ? "1" : "0";
    } else if (warn) {
      warn.remove();
      delete tile.dataset.devicefailed;
    }
  }
  // A screen share shows as its own tile.
  const screens = new Set([...room.remote.values()].filter((e) => e.type === "screen").map((e) => `${e.userId}:screen`));
  for (const tile of [...stage.querySelectorAll("[data-screen]")]) {
    if (!screens.has(tile.dataset.screen)) {
      room.unplayVideo(tile.dataset.userid, { type: "screen" });
      tile.remove();
    }
  }
  for (const [, entry] of room.remote) {
    if (entry.type !== "screen") continue;
    const key = `${entry.userId}:screen`;
    if (stage.querySelector(`[data-screen="${CSS.escape(key)}"]`)) continue;
    const tile = el("figure", { class: "tile", "data-screen": key, "data-userid": `${entry.userId}` });
    tile.append(el("figcaption", { class: "label", text: `${t("ctl.share")}: ${(room.getUser(entry.userId) || { properties: {} }).properties.nickname || entry.userId}` }));
    stage.append(tile);
    room.playVideo(entry.userId, tile, { type: "screen", mode: "contain" });
  }
  $("stage-empty").hidden = stage.children.length > 0;
}

function renderPeople() {
  const list = $("people");
  const users = Object.values(room.getUsers()).filter((u) => u.properties.role !== 4 || u.id === me().id);
  users.sort((a, b) => a.properties.role - b.properties.role || String(a.properties.nickname).localeCompare(String(b.properties.nickname)));
  $("people-count").textContent = String(users.length);
  const rows = users.map((u) => {
    const p = u.properties;
    const flags = [];
    if (p.raisehand) flags.push(`✋ ${t("flag.hand")}`);
    if (onStage(u)) flags.push(t("flag.stage"));
    if (p.disablechat) flags.push(t("flag.chatOff"));
    if (p.role === 2 && p.candraw) flags.push(`✎ ${t("flag.canDraw")}`);
    if (p.group) flags.push(t("flag.group", { g: groupName(p.group) }));
    if (toolsView.trophyLabel(u)) flags.push(toolsView.trophyLabel(u));
    for (const kind of ["video", "audio"]) {
      const code = deviceFailure(u, kind);
      if (code) flags.push(`⚠ ${t(`dev.failed.${kind}`, { code })}`);
    }
    const li = el("li", { class: "person", "data-userid": u.id, "data-candraw": p.candraw ? "1" : "0", "data-hand": p.raisehand ? "1" : "0", "data-stage": onStage(u) ? "1" : "0" });
    li.append(
      el("span", { class: "name", text: `${p.nickname || u.id}${u.id === me().id ? ` (${t("p.you")})` : ""}` }),
      el("span", { class: "role muted", text: t(`role.${p.role}`) }),
    );
    if (flags.length) li.append(el("span", { class: "flags", text: flags.join(" · ") }));
    if (isSuper() && u.id !== me().id && (p.role === 2 || p.role === 1)) {
      const name = p.nickname || u.id;
      const act = (key, action, fn) => {
        const b = button(key, fn, { action });
        b.setAttribute("aria-label", `${t(key)}: ${name}`);
        return b;
      };
      li.append(
        onStage(u)
          ? act("p.stageOff", "stage-off", () => room.changeUserPublish(u.id, 0))
          : act("p.stageOn", "stage-on", () => room.changeUserProperty(u.id, "__all", { publishstate: 3, raisehand: false })),
      );
      if (onStage(u)) {
        const s = p.publishstate;
        li.append(
          hasAudio(s)
            ? act("p.mute", "mute", () => room.changeUserPublish(u.id, s === 3 ? 2 : 4))
            : act("p.unmute", "unmute", () => room.changeUserPublish(u.id, s === 2 ? 3 : 1)),
        );
      }
      if (p.role === 2) {
        li.append(
          p.candraw
            ? act("p.drawOff", "draw-off", () => room.board.setCanDraw(u.id, false))
            : act("p.drawOn", "draw-on", () => room.board.setCanDraw(u.id, true)),
        );
      }
      const trophy = toolsView.trophyButton(u);
      if (trophy) li.append(trophy);
      if (p.raisehand) li.append(act("p.handDown", "hand-down", () => room.changeUserProperty(u.id, "__all", { raisehand: false })));
      li.append(
        p.disablechat
          ? act("p.allowChat", "chat-allow", () => room.changeUserProperty(u.id, "__all", { disablechat: false }))
          : act("p.banChat", "chat-ban", () => room.changeUserProperty(u.id, "__all", { disablechat: true })),
        act("p.evict", "evict", () => room.evictUser(u.id, { code: 0 })),
      );
    }
    return li;
  });
  list.replaceChildren(...rows);
}

// ---- the class timer -------------------------------------------------------------------------

function pad(n) {
  return String(n).padStart(2, "0");
}

function renderTimer() {
  if (!me()) return;
  const begun = msg("ClassBegin");
  const box = $("class-timer");
  $("rec-indicator").hidden = !(begun && begun.data && begun.data.record);
  if (!begun) {
    box.textContent = t("class.notStarted");
    return;
  }
  const start = (begun.data && begun.data.started) || begun.ts || Date.now();
  const secs = Math.max(0, Math.floor((Date.now() - start) / 1000));
  box.textContent = t("class.running", { time: `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}` });
}
setInterval(renderTimer, 1000);

// ---- chat --------------------------------------------------------------------------------

function chatText(message) {
  if (typeof message === "string") return message;
  if (message && typeof message.msg === "string") return message.msg;
  return JSON.stringify(message);
}

function clock(ts) {
  const d = new Date(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

room.on("room-text-message", (ev) => {
  const nick = ev.nickname || (ev.user && ev.user.properties.nickname) || ev.userid;
  const role = ev.role ?? (ev.user && ev.user.properties.role);
  const ts = typeof ev.ts === "number" && ev.ts > 0 ? ev.ts : Date.now();
  const teacher = role === 0 || role === 1;
  const li = el("li", { "data-from": ev.userid, class: teacher ? "from-teacher" : undefined });
  li.append(el("time", { class: "ts", datetime: new Date(ts).toISOString(), text: clock(ts) }), el("span", { class: "from", text: nick }));
  if (teacher) li.append(el("span", { class: "role-tag", text: t(`role.${role}`) }));
  li.append(el("span", { class: "body", text: chatText(ev.message) }));
  $("chat-log").append(li);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
  page.chat.push({ from: ev.userid, text: chatText(ev.message) });
});

function renderChatState() {
  const role = me().properties.role;
  $("chat-panel").hidden = role === 4;
  const banned = !isSuper() && (Boolean(msg("EveryoneBanChat")) || Boolean(me().properties.disablechat));
  $("chat-input").disabled = banned;
  $("chat-form").querySelector("button").disabled = banned;
  $("chat-input").placeholder = banned ? t("chat.banned") : t("chat.placeholder");
}

$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("chat-input");
  const text = input.value.trim();
  if (!text) return;
  try {
    await room.sendMessage(text, "__all");
    input.value = "";
  } catch (err) {
    showError(err);
  }
});

// ---- courseware and the board ------------------------------------------------------------

const courseware = createCourseware({
  room,
  t: () => t,
  button,
  showError,
  showInfo,
  isSuper,
  changed: () => boardView.render(),
});
const boardView = createBoard({ room, t: () => t, button, showError, showInfo, showNotice, files: () => courseware.files });
page.board = boardView;
const toolsView = createTools({ room, t: () => t, button, showError, showInfo, refresh: renderAll, saved, save });
page.tools = toolsView;
page.courseware = courseware;

// ---- the end of the class --------------------------------------------------------------------

// When ClassBegin goes, every page turns its own camera, microphone and screen off (and a
// student leaves the stage), whoever ended the class and whatever the server did about it.
room.on("room-delmsg", async (ev) => {
  const m = ev.message;
  if (!me() || (m.id !== "ClassBegin" && m.name !== "ClassBegin")) return;
  closeDevicePanel();
  const tasks = [];
  if ((me().properties.publishstate || 0) > 0) tasks.push(room.changeUserPublish(me().id, 0));
  if (me().properties.raisehand) tasks.push(room.changeUserProperty(me().id, "__all", { raisehand: false }));
  if (room.pubs && room.pubs.has("screen")) tasks.push(room.stopShareScreen());
  if (!isSuper()) showInfo(t("class.endedNotice"));
  try {
    await Promise.all(tasks);
  } catch (err) {
    showError(err);
  }
  renderAll();
});

// ---- language ----------------------------------------------------------------------------------

function setLanguage(lang) {
  t = makeTranslator(lang);
  page.t = t;
  storageSet(localStorage, LANG_KEY, lang);
  translatePage(document, t);
  $("lang-select").value = lang;
  if (me()) {
    $("role-badge").textContent = t(`role.${me().properties.role}`);
    renderAll();
    courseware.render();
    boardView.render();
    toolsView.render();
  }
  renderTimer();
}

function initLanguageSwitch() {
  const select = $("lang-select");
  select.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => el("option", { value: code, lang: code === "zh" ? "zh-CN" : "en", text: name })));
  select.value = t.lang;
  select.addEventListener("change", () => setLanguage(select.value));
}

// ---- camera and microphone check -------------------------------------------------------------

// The preview opens its own tracks on the chosen devices (nothing is sent) and shows the
// microphone's level; "Go live" keeps the choice and turns both on.
const preview = { tracks: [], audioCtx: null, raf: 0 };

function stopPreview() {
  for (const track of preview.tracks) track.stop();
  preview.tracks = [];
  cancelAnimationFrame(preview.raf);
  if (preview.audioCtx) preview.audioCtx.close().catch(() => {});
  preview.audioCtx = null;
  $("device-preview").srcObject = null;
  $("mic-level").value = 0;
}

function closeDevicePanel() {
  stopPreview();
  $("device-panel").hidden = true;
}

async function fillDeviceSelects() {
  const devices = await room.getDevices();
  for (const [id, kind, list] of [["camera-select", "video", devices.videoinput], ["mic-select", "audio", devices.audioinput]]) {
    const select = $(id);
    const chosen = select.value || room.getDevice(kind) || "";
    select.replaceChildren(
      el("option", { value: "", text: t("dev.default") }),
      ...list.map((d, i) => el("option", { value: d.deviceId, text: d.label || `${t(kind === "video" ? "dev.camera" : "dev.mic")} ${i + 1}` })),
    );
    select.value = list.some((d) => d.deviceId === chosen) ? chosen : "";
  }
}

async function startPreview() {
  stopPreview();
  const pick = (id) => ($(id).value ? { deviceId: { exact: $(id).value } } : true);
  const tracks = [];
  for (const [kind, id] of [["video", "camera-select"], ["audio", "mic-select"]]) {
    try {
      tracks.push(await TK.getLocalTrack(kind, pick(id)));
    } catch (err) {
      showNotice("error", err.code, "sdk", err.message);
    }
  }
  preview.tracks = tracks;
  const video = tracks.find((x) => x.kind === "video");
  $("device-preview").srcObject = video ? new MediaStream([video]) : null;
  const audio = tracks.find((x) => x.kind === "audio");
  if (audio && typeof AudioContext === "function") {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(new MediaStream([audio])).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    const tick = () => {
      analyser.getByteTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v - 128) / 128);
      $("mic-level").value = peak;
      preview.raf = requestAnimationFrame(tick);
    };
    preview.audioCtx = ctx;
    tick();
  }
}

async function openDevicePanel() {
  $("device-panel").hidden = false;
  await fillDeviceSelects();
  await startPreview();
  // Labels appear once the browser has granted a device: fill the lists again.
  await fillDeviceSelects();
}

async function useChosenDevices() {
  const devices = { audio: $("mic-select").value || null, video: $("camera-select").value || null };
  save({ devices });
  await room.setDevice("video", devices.video);
  await room.setDevice("audio", devices.audio);
}

for (const id of ["camera-select", "mic-select"]) {
  $(id).addEventListener("change", () => startPreview().catch((err) => showError(err)));
}
$("device-close").addEventListener("click", async () => {
  await useChosenDevices().catch((err) => showError(err));
  closeDevicePanel();
});
$("device-live").addEventListener("click", async () => {
  try {
    await useChosenDevices();
    stopPreview();
    $("device-panel").hidden = true;
    await setMine(true, true);
  } catch (err) {
    showError(err);
  }
});

// ---- start -------------------------------------------------------------------------------

translatePage(document, t);
initLanguageSwitch();
$("join-serial").textContent = serial;
const loginkey = query.get("loginkey");
const again = saved();
if (again && again.userid && (!loginkey || loginkey === again.loginkey)) {
  // A reload: back in as the same user, with the same name and password or key (the form
  // shows them, disabled, with "Rejoining the class…" until the class is back).
  $("nickname").value = again.nickname || "";
  join(again.nickname || "", again.password, again.loginkey, again.userid);
} else if (loginkey) {
  $("join-form").hidden = true;
  join(query.get("nickname") || "", undefined, loginkey);
}
page.ready = true;
