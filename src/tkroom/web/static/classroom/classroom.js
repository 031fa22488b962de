// The classroom page: a join form, then the class (stage, participants, chat, courseware)
// with controls by role. Everything goes through tkroom.js; the page keeps no state of its
// own that the room does not also have, so a late joiner or a reconnect sees the same class.

import TK from "/sdk/tkroom.js";
import { makeTranslator, pickLanguage, translatePage } from "/classroom/i18n.js";

const t = makeTranslator(pickLanguage(navigator.languages || [navigator.language]));
const $ = (id) => document.getElementById(id);
const serial = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const query = new URLSearchParams(location.search);

const room = TK.Room();
const page = { room, t, notices: [], chat: [] };
window.tkroomPage = page; // for people debugging in the console, and for tests

const SUPER = new Set([0, 1]);
const onStage = (u) => (u.properties.publishstate || 0) > 0;
const hasAudio = (s) => s === 1 || s === 3;
const hasVideo = (s) => s === 2 || s === 3;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick") node.addEventListener("click", v);
    else if (k === "text") node.textContent = v;
    else if (k in node && k !== "list") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function me() {
  return room.getMySelf();
}

function isSuper() {
  return Boolean(me()) && SUPER.has(me().properties.role);
}

// ---- notices -----------------------------------------------------------------------------

function showNotice(kind, code, ns, message, extra = {}) {
  const box = $("notices");
  const text = t.code(ns, code, message) || message || "";
  const key = `${kind}:${ns}:${code}`;
  for (const old of box.querySelectorAll(`[data-key="${CSS.escape(key)}"]`)) old.remove();
  const item = el("div", { class: `notice ${kind}`, "data-key": key, "data-code": String(code) });
  const body = el("div", {});
  body.append(el("span", { class: "code", text: t("notice.code", { code }) }), el("span", { class: "text", text }));
  if (message && text !== message) body.append(el("div", { class: "muted detail", text: message }));
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
  if (kind === "info") setTimeout(() => item.remove(), 4000);
}

function showError(err, ns = "room") {
  showNotice("error", err.code ?? 2510, ns, err.message);
}

// Notices the SDK raises about this browser's devices carry source "sdk"; the rest come from
// the room, where the same number can mean something else (153: camera busy vs recording on).
room.on("room-error-notice", (ev) => showNotice("error", ev.code, ev.source === "sdk" ? "sdk" : "room", ev.message, ev));
room.on("room-warn-notice", (ev) => showNotice("warn", ev.code, "room", ev.message));

// ---- joining -----------------------------------------------------------------------------

function setConn(text) {
  $("conn-state").textContent = text;
}

async function join(nickname, password, loginkey) {
  $("join-button").disabled = true;
  $("join-status").textContent = t("join.joining");
  try {
    await room.init("", undefined, undefined, false, { autoSubscribeAV: true });
    const params = loginkey ? { serial, loginkey } : { serial, password };
    // A link may name the role (e.g. ?userrole=3 for the live audience); the password decides.
    if (query.get("userrole") !== null) params.userrole = query.get("userrole");
    await room.joinroom(null, null, nickname, undefined, params, {});
    $("join-status").textContent = "";
  } catch (err) {
    $("join-status").textContent = "";
    $("join-button").disabled = false;
    showError(err);
  }
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

room.on("room-connected", () => {
  $("join-view").hidden = true;
  $("class-view").hidden = false;
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
  loadFiles();
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
room.on("room-participant_evicted", () => endClass(t("conn.evicted")));
room.on("room-leaveroom", () => endClass(t("conn.left")));

function endClass(text) {
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
    renderDoc();
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
  room.on(ev, renderAll);
}

function msg(id) {
  return room.getSavedMessages().find((m) => m.id === id);
}

function button(key, onclick, opts = {}) {
  return el("button", {
    type: "button",
    text: t(key),
    "data-action": opts.action || key,
    "aria-pressed": opts.pressed === undefined ? undefined : String(Boolean(opts.pressed)),
    class: opts.class,
    onclick: () => Promise.resolve(onclick()).catch((err) => showError(err)),
  });
}

function renderControls() {
  const box = $("controls");
  const role = me().properties.role;
  const state = me().properties.publishstate || 0;
  const items = [];
  const begun = msg("ClassBegin");
  if (isSuper()) {
    items.push(
      begun
        ? button("ctl.end", () => room.endClass(), { action: "class-end" })
        : button("ctl.begin", () => room.beginClass(), { action: "class-begin", class: "primary" }),
    );
    const recording = Boolean(begun && begun.data && begun.data.record);
    items.push(
      recording
        ? button("ctl.recordStop", () => room.stopServerRecord(), { action: "record-stop" })
        : button("ctl.recordStart", () => room.startServerRecord({ recordType: "0" }), { action: "record-start" }),
    );
    items.push(
      button("ctl.audioOnly", () => room.switchOnlyAudioRoom(!room.isOnlyAudioRoom()), {
        action: "audio-only",
        pressed: room.isOnlyAudioRoom(),
      }),
    );
    const banned = Boolean(msg("EveryoneBanChat"));
    items.push(
      button(
        "ctl.banAll",
        () =>
          banned
            ? room.delMsg("EveryoneBanChat", "EveryoneBanChat", "__all")
            : room.pubMsg({ name: "EveryoneBanChat", id: "EveryoneBanChat", toID: "__all", save: true, data: {} }),
        { action: "ban-all", pressed: banned },
      ),
    );
    items.push(groupsField());
    items.push(button("ctl.groups", openGroups, { action: "groups-open" }));
    items.push(button("ctl.groupsEnd", closeGroups, { action: "groups-close" }));
  }
  if (role === 0 || role === 1 || (role === 2 && onStage(me()))) {
    items.push(
      state > 0
        ? button("ctl.camOff", () => room.changeUserPublish(me().id, role === 2 ? 4 : 0), { action: "av-off" })
        : button("ctl.camOn", () => room.publishAV(), { action: "av-on", class: "primary" }),
    );
    if (state > 0) {
      items.push(
        hasAudio(state)
          ? button("ctl.micOff", () => room.unpublishAudio(), { action: "mic-off" })
          : button("ctl.micOn", () => room.publishAudio(), { action: "mic-on" }),
      );
    }
  }
  if (role === 0 || role === 1) {
    items.push(
      room.pubs && room.pubs.has("screen")
        ? button("ctl.shareStop", () => room.stopShareScreen().then(renderAll), { action: "share-stop" })
        : button("ctl.share", () => room.startShareScreen().then(renderAll), { action: "share" }),
    );
  }
  if (role === 2) {
    const raised = Boolean(me().properties.raisehand);
    items.push(
      button(raised ? "ctl.handDown" : "ctl.hand", () => room.changeUserProperty(me().id, "__all", { raisehand: !raised }), {
        action: "hand",
        pressed: raised,
      }),
    );
    if (onStage(me())) items.push(button("ctl.leaveStage", () => room.changeUserPublish(me().id, 0), { action: "leave-stage" }));
  }
  items.push(button("ctl.leave", () => room.leaveroom(), { action: "leave", class: "danger" }));
  box.replaceChildren(...items);
}

// The group ids the teacher typed; kept here because the controls are re-rendered on every change.
let groupIds = "1,2";

function groupsField() {
  const label = document.createElement("label");
  label.className = "groups-field";
  const text = document.createElement("span");
  text.textContent = t("ctl.groupsPrompt");
  const input = document.createElement("input");
  input.id = "groups-ids";
  input.value = groupIds;
  input.addEventListener("input", () => {
    groupIds = input.value;
  });
  label.append(text, input);
  return label;
}

async function openGroups() {
  const groups = groupIds.split(",").map((s) => s.trim()).filter(Boolean);
  if (!groups.length) return;
  const students = [...Object.values(room.getUsers())].filter((u) => u.properties.role === 2);
  await Promise.all(
    students.map((u, i) =>
      room.pubMsg({ name: "GroupAssign", id: `GroupAssign_${u.id}`, toID: u.id, save: false, data: { groupid: groups[i % groups.length] } }),
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
      showNotice("info", 0, "room", t("notice.groupMoved", { g: m.data.groupid }));
    } else {
      await room.leaveGroup();
    }
  } catch (err) {
    showError(err);
  }
});

function stageUsers() {
  const users = Object.values(room.getUsers()).filter((u) => onStage(u) && u.properties.role !== 4);
  return users.sort((a, b) => a.properties.role - b.properties.role || String(a.properties.nickname).localeCompare(String(b.properties.nickname)));
}

function renderStage() {
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
  for (const u of users) {
    let tile = stage.querySelector(`.tile[data-userid="${CSS.escape(u.id)}"]`);
    if (!tile) {
      tile = el("figure", { class: "tile", "data-userid": u.id });
      tile.append(el("figcaption", { class: "label" }));
      stage.append(tile);
      room.playVideo(u.id, tile, { mode: "cover" });
      room.playAudio(u.id);
    }
    const name = u.properties.nickname || u.id;
    tile.querySelector(".label").textContent = u.id === me().id ? `${name} (${t("p.you")})` : name;
    tile.classList.toggle("audio-only", !hasVideo(u.properties.publishstate) || room.isOnlyAudioRoom());
    const video = tile.querySelector("video");
    if (video) video.setAttribute("aria-label", name);
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
    if (p.group) flags.push(t("flag.group", { g: p.group }));
    const li = el("li", { class: "person", "data-userid": u.id, "data-hand": p.raisehand ? "1" : "0", "data-stage": onStage(u) ? "1" : "0" });
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
  const begun = msg("ClassBegin");
  const box = $("class-timer");
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

room.on("room-text-message", (ev) => {
  const nick = ev.nickname || (ev.user && ev.user.properties.nickname) || ev.userid;
  const li = el("li", { "data-from": ev.userid });
  li.append(el("span", { class: "from", text: `${nick}:` }), el("span", { class: "body", text: chatText(ev.message) }));
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

// ---- courseware --------------------------------------------------------------------------

let files = [];

async function loadFiles() {
  try {
    files = await room.getFileList();
  } catch (err) {
    files = [];
    if (err.code !== 4105) showError(err);
  }
  renderFiles();
}

function fileUrl(f) {
  return f.downloadpath || f.pdfpath || f.filepath || "";
}

function renderFiles() {
  const list = $("files");
  $("files-empty").hidden = files.length > 0;
  list.replaceChildren(
    ...files.map((f) => {
      const li = el("li", { "data-fileid": String(f.fileid) });
      li.append(el("a", { href: fileUrl(f), target: "_blank", rel: "noopener", text: f.filename || String(f.fileid) }));
      if (isSuper()) {
        const b = button("files.show", () =>
          room.pubMsg({
            name: "ShowPage",
            id: "DocumentFilePage_ShowPage",
            toID: "__all",
            save: true,
            data: { fileid: f.fileid, filename: f.filename, filetype: f.filetype, url: fileUrl(f), page: 1 },
          }),
        );
        b.setAttribute("aria-label", `${t("files.show")}: ${f.filename}`);
        li.append(b);
      }
      return li;
    }),
  );
}

function renderDoc() {
  const shown = msg("DocumentFilePage_ShowPage");
  const view = $("courseware-view");
  if (!shown || !shown.data || !shown.data.url) {
    view.hidden = true;
    $("doc-frame").replaceChildren();
    return;
  }
  const d = shown.data;
  view.hidden = false;
  $("doc-name").textContent = d.filename || "";
  const frame = $("doc-frame");
  if (frame.dataset.url === `${d.url}#${d.page}`) return;
  frame.dataset.url = `${d.url}#${d.page}`;
  const type = String(d.filetype || d.filename || "").toLowerCase();
  if (/(png|jpe?g|gif|webp|svg|bmp)$/.test(type)) {
    frame.replaceChildren(el("img", { src: d.url, alt: d.filename || "" }));
  } else {
    // PDF (and anything else the browser can show): the browser's own viewer, at the page.
    frame.replaceChildren(el("iframe", { src: `${d.url}#page=${d.page || 1}`, title: d.filename || "document", sandbox: /pdf$/.test(type) ? undefined : "" }));
  }
}

room.on("room-pubmsg", (ev) => {
  if (ev.message.name === "DocumentChange") loadFiles();
});

// ---- start -------------------------------------------------------------------------------

translatePage(document, t);
$("join-serial").textContent = serial;
const loginkey = query.get("loginkey");
if (loginkey) {
  $("join-form").hidden = true;
  join(query.get("nickname") || "", undefined, loginkey);
}
page.ready = true;
