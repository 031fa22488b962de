// TK.Room: the original web SDK's surface (init, joinroom, publishVideo, playVideo, pubMsg,
// ...) and events (room-connected, room-participant_join, ...) over tkroom's signalling
// protocol. Publishing is a user property, as in the original: publishVideo() only sets the
// own `publishstate`; every client reacts to its own publishstate by (un)publishing, which is
// also how a teacher brings a student on stage.

import { DESCRIPTIONS, MESSAGES } from "./codes.js";
import { TKError, autoplayCode, screenErrorCode, trackLostCode } from "./errors.js";
import { Connection, FAILOVER_ATTEMPTS } from "./connection.js";
import { Board, expandBoard, parseShapeMsgId } from "./board.js";
import { Emitter } from "./emitter.js";
import { baseUrl, clientApi, clientApiForm, signalUrl, signalUrls } from "./http.js";
import { LAYERS, Publisher, Subscriber, acquireTrack } from "./media.js";
import { Tools } from "./tools.js";

const NOTICE_NS = { error: "error_notice", warn: "warning_notice", info: "info_notice" };

export const ROOM_ROLE = Object.freeze({
  TEACHER: 0,
  ASSISTANT: 1,
  STUDENT: 2,
  AUDIT: 3,
  PATROL: 4,
  PLAYBACK: -1,
});

export const PUBLISH_STATE = Object.freeze({ NONE: 0, AUDIOONLY: 1, VIDEOONLY: 2, BOTH: 3, MUTEALL: 4 });

export const MSG_TO_ALLUSER = "__all";
export const MSG_TO_ALLEXCEPTSENDER = "__allExceptSender";
export const MSG_TO_ALLEXCEPTAUDITOR = "__allExceptAuditor";
export const MSG_TO_NONEUSER = "__none";
export const MSG_TO_ALLSUPERUSERS = "__allSuperUsers";

const wantsAudio = (s) => s === 1 || s === 3;
const wantsVideo = (s) => s === 2 || s === 3;

// The device the attendance records show (the original's clientType: 4 phone browser, 5 PC browser).
function deviceType() {
  const ua = typeof navigator !== "undefined" ? navigator.userAgent || "" : "";
  return /Mobi|Android|iPhone|iPad/i.test(ua) ? 4 : 5;
}

function callbacks(promise, onOk, onFail) {
  if (typeof onOk === "function" || typeof onFail === "function") {
    promise.then(
      (v) => onOk && onOk(v),
      (e) => onFail && onFail(e),
    );
  }
  return promise;
}

export class Room extends Emitter {
  constructor() {
    super();
    this.initialized = false;
    // simulcast false: never send the camera as layers; dtlsPassive false: the browser's own DTLS role
    this.options = { autoSubscribeAV: true, maxReconnectCount: 0, iceServers: [], simulcast: true, dtlsPassive: true };
    this.conn = null;
    this.self = null;
    this.users = new Map();
    this.msgs = new Map();
    this.roomProps = {};
    this.mode = "normalRoom";
    this.remote = new Map(); // streamId -> {streamId, userId, type, audio, video}
    this.subs = new Map(); // streamId -> Subscriber
    this.pubs = new Map(); // "video" | "screen" -> Publisher
    this.localTracks = { audio: null, video: null };
    this.screenStream = null;
    this.players = new Map(); // `${userId}:${type}:${kind}` -> element
    this.pendingPlay = new Set();
    this.videoProfile = null;
    this.deviceIds = { audio: null, video: null }; // chosen with setDevice(); null = the default
    this.deviceState = { audio: 0, video: 0 }; // the own devicestate property: 0 or the failure code
    this.failCounts = new Map();
    this.layerPrefs = new Map(); // streamId or `${userId}:${type}` -> "high" | "medium" | "low"
    this._roomSimulcast = Promise.resolve(false); // getStreams says whether the room takes layers
    this._join = null;
    this._mediaQueue = Promise.resolve();
    /** The board: pages, shapes, drawing (board.js, docs/board.md). */
    this.board = new Board(this);
    /** The classroom tools: answer card, buzzer, timer, random pick, trophies (tools.js, docs/tools.md). */
    this.tools = new Tools(this);
  }

  // ---- set-up ----------------------------------------------------------------------------

  /** init(appKey, onOk, onFail, isCheckDevice, {autoSubscribeAV, maxReconnectCount, iceServers, simulcast, dtlsPassive, signalUrls, failoverAttempts}) */
  init(appKey, onOk, onFail, isCheckDevice, options = {}) {
    this.appKey = appKey;
    Object.assign(this.options, options || {});
    this.initialized = true;
    return callbacks(Promise.resolve(this), onOk, onFail);
  }

  uninit() {
    this.initialized = false;
  }

  checkInit() {
    return this.initialized;
  }

  /**
   * joinroom(host, port, nickname, userId, {serial, password | loginkey, userrole?}, userProps)
   * host null: the page's own node. Resolves with the joinRoom answer; rejects with TKError.
   */
  joinroom(host, port, nickname, userId, params = {}, userProps = {}) {
    if (!this.initialized) return Promise.reject(new TKError(101, "Not initialized"));
    this._join = { host, port, nickname, userId, params: { ...params }, userProps: { ...userProps } };
    return this._doJoin(false);
  }

  async _doJoin(isReconnect) {
    const j = this._join;
    const base = baseUrl(j.host, j.port);
    this.base = base;
    let check;
    try {
      check = await clientApi(base, "checkroom", {
        serial: j.params.serial,
        password: j.params.password,
        loginkey: j.params.loginkey,
        nickname: j.nickname,
        userid: j.userId,
        userrole: j.params.userrole,
        clientType: 1,
      });
    } catch (err) {
      this.dispatchEvent("room-connect-fail", { source: 3, error: err.code, code: err.code, message: err.message });
      throw err;
    }
    this.ticket = check.ticket; // also signs courseware uploads (ClientAPI uploadfile)
    this.dispatchEvent("room-checkroom", { message: check });
    let config;
    try {
      config = await clientApi(base, "getconfig", { serial: j.params.serial, userrole: check.roomrole, ticket: check.ticket });
    } catch (err) {
      this.dispatchEvent("room-connect-fail", { source: 1, error: err.code, code: err.code, message: err.message });
      throw err;
    }
    if (Array.isArray(config.iceServers)) this.options.iceServers = config.iceServers;
    const url = signalUrl(base, config);
    this.signalUrl = url; // the page explains a refused wss:// (a certificate problem) with it
    const options = this.options;
    const conn = new Connection(url, (ev, data) => this._onEvent(ev, data), {
      maxAttempts: this.options.maxReconnectCount,
      // a cluster: the nodes getconfig lists (and init's signalUrls) when ours goes away
      urls: [...signalUrls(base, config), ...(this.options.signalUrls || [])],
      get failoverAttempts() {
        return options.failoverAttempts; // read when needed: init() may change it mid-class
      },
      onDrop: () => this.dispatchEvent("room-disconnected", { willReconnect: true }),
      onReconnecting: (n) => this.dispatchEvent("room-reconnecting", { number: n }),
      onResumed: (ack, sentAt, receivedAt, where) => this._onResumed(ack, sentAt, receivedAt, where),
      onExpired: () => this._rejoin(),
      onLost: (err) => this._onLost(err),
    });
    try {
      await conn.open();
    } catch (err) {
      this.dispatchEvent("room-connect-fail", { source: 0, error: err.code, code: err.code, message: err.message });
      throw err;
    }
    const props = { ...j.userProps };
    let ack;
    const sentAt = Date.now();
    try {
      ack = await conn.request("joinRoom", { ticket: check.ticket, properties: props, clientType: deviceType() });
      this.tools.setServerTime(ack.serverTime, sentAt, Date.now());
    } catch (err) {
      conn.close();
      this.dispatchEvent("room-connect-fail", { source: 0, error: err.code, code: err.code, message: err.message });
      throw err;
    }
    if (this.conn) this.conn.close();
    this.conn = conn;
    conn.session = ack.session;
    if (typeof ack.s === "number") conn.last = ack.s;
    this._applyJoinAck(ack);
    const msglist = [...this.msgs.values()].sort((a, b) => (a.seq || 0) - (b.seq || 0));
    this.dispatchEvent("room-connected", { message: msglist, userlist: [...this.users.values()], isReconnect });
    if (isReconnect) this.dispatchEvent("room-reconnected", { rejoined: true });
    this._roomSimulcast = this._loadStreams();
    this._syncPublishing();
    return ack;
  }

  /**
   * The streams already flowing in the room (a late joiner subscribes to them); resolves with
   * whether the room takes cameras as simulcast layers.
   */
  async _loadStreams() {
    try {
      const res = await this._req("getStreams", {});
      for (const info of res.streams || []) if (!this.remote.has(info.streamId)) this._onAddStream(info);
      return res.simulcast === true;
    } catch (err) {
      if (err.code !== 103) this._notice("error", err.code, err.message);
      return false;
    }
  }

  _applyJoinAck(ack) {
    this.self = ack.self;
    this.deviceState = { audio: 0, video: 0 };
    this.roomProps = ack.room || {};
    this.mode = ack.mode || "normalRoom";
    this.users = new Map();
    for (const u of ack.userlist || []) this.users.set(u.id, u);
    this.users.set(this.self.id, this.self);
    this._setSaved(ack.msglist, ack.board);
  }

  /** The saved messages: the list plus the join answer's compact board expanded back (docs/board.md). */
  _setSaved(msglist, board) {
    this.msgs = new Map();
    const all = [...(msglist || []), ...expandBoard(board)].sort((a, b) => (a.seq || 0) - (b.seq || 0));
    for (const m of all) this.msgs.set(m.id, m);
    this.board.reset(all);
    this.tools.reset(all);
  }

  async _rejoin() {
    // The session expired while we were away: start over with a fresh ticket, same user id.
    if (this.self) this._join.userId = this.self.id;
    this._dropAllMedia(false);
    this.remote.clear();
    for (let attempt = 1; ; attempt++) {
      try {
        await this._doJoin(true);
        return;
      } catch (err) {
        // bounded even without maxReconnectCount: the page's own node may be gone for good
        const max = this.options.maxReconnectCount || this.options.failoverAttempts || FAILOVER_ATTEMPTS;
        if (attempt >= max || (err.code && err.code < 2500 && err.code !== 111)) {
          this._onLost(err);
          return;
        }
        this.dispatchEvent("room-reconnecting", { number: attempt });
        await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 4000)));
      }
    }
  }

  _onResumed(ack, sentAt, receivedAt, where = {}) {
    // The server's clock again: the computer may have slept meanwhile.
    if (ack) this.tools.setServerTime(ack.serverTime, sentAt, receivedAt);
    this.signalUrl = where.url || this.signalUrl;
    this.dispatchEvent("room-reconnected", { rejoined: false, moved: !!where.moved, url: this.signalUrl });
    if (where.moved) {
      this._mediaMoved();
      return;
    }
    // ICE may have failed while the network was down: bring broken media back.
    for (const pub of [...this.pubs.values()]) {
      if (["failed", "closed"].includes(pub.pc.connectionState)) this._restartPublisher(pub);
    }
    for (const sub of [...this.subs.values()]) {
      if (["failed", "closed"].includes(sub.pc.connectionState)) this._restartSubscriber(sub);
    }
  }

  /**
   * The session resumed on another node: the old node brokered our streams, so they die with
   * it. Publish and subscribe again through the new node (one Janus room for the class, so the
   * others see the same streams come back).
   */
  _mediaMoved() {
    this._movedAt = Date.now();
    for (const pub of this.pubs.values()) pub.stop(false);
    this.pubs.clear();
    for (const sub of this.subs.values()) sub.stop(false);
    this.subs.clear();
    for (const streamId of [...this.remote.keys()]) this._onRemoveStream({ streamId });
    this._roomSimulcast = this._loadStreams();
    this._syncPublishing();
    if (this.screenStream) this._queue(() => this._publish("screen", new MediaStream(this.screenStream.getVideoTracks())));
  }

  _onLost(err) {
    this._notice("error", err.code, err.message);
    this._teardown();
    this.dispatchEvent("room-disconnected", { willReconnect: false, code: err.code });
  }

  async leaveroom(onOk, onFail) {
    const p = (async () => {
      if (this.conn && this.conn.connected) await this.conn.request("leaveRoom", {}).catch(() => {});
      this._teardown();
      this.dispatchEvent("room-leaveroom", {});
    })();
    return callbacks(p, onOk, onFail);
  }

  _teardown() {
    if (this.conn) this.conn.close();
    this.conn = null;
    this._dropAllMedia(false);
    for (const kind of ["audio", "video"]) {
      if (this.localTracks[kind]) this.localTracks[kind].stop();
      this.localTracks[kind] = null;
    }
  }

  _dropAllMedia(tellServer) {
    for (const pub of this.pubs.values()) pub.stop(tellServer);
    this.pubs.clear();
    for (const sub of this.subs.values()) sub.stop(tellServer);
    this.subs.clear();
  }

  // ---- reading state ---------------------------------------------------------------------

  getMySelf() {
    return this.self;
  }

  getUser(id) {
    return this.users.get(id);
  }

  getUsers() {
    return Object.fromEntries(this.users);
  }

  getRoomProperties() {
    return this.roomProps;
  }

  getRoomMode() {
    return this.mode;
  }

  /** The saved messages, in seq order. */
  getSavedMessages() {
    return [...this.msgs.values()].sort((a, b) => (a.seq || 0) - (b.seq || 0));
  }

  /** One saved message by id, or undefined. */
  getSavedMessage(id) {
    return this.msgs.get(id);
  }

  isOnlyAudioRoom() {
    return this.msgs.has("OnlyAudioRoom");
  }

  _req(ev, data) {
    if (!this.conn) return Promise.reject(new TKError(2508));
    return this.conn.request(ev, data);
  }

  getRoomUsers(onOk, start = 0, max = 200, roles, onFail, search) {
    const data = { start, max };
    if (roles) data.roles = roles;
    if (search) data.search = search;
    return callbacks(this._req("getRoomUsers", data), onOk, onFail);
  }

  getRoomUserNum(onOk, roles, onFail) {
    return callbacks(
      this._req("getRoomUserNum", roles ? { roles } : {}).then((d) => d.num),
      onOk,
      onFail,
    );
  }

  // ---- messages and properties -------------------------------------------------------------

  sendMessage(message, toID = MSG_TO_ALLUSER, extension) {
    const body = extension ? { msg: message, ...extension } : message;
    return this._req("sendMessage", { toID, message: body });
  }

  /** pubMsg({name, id, toID, data, save, associatedMsgID, associatedUserID, expires}) or positional. */
  pubMsg(nameOrMsg, id, toID, data, save, expires, associatedMsgID, associatedUserID) {
    const msg =
      typeof nameOrMsg === "object" && nameOrMsg !== null
        ? { ...nameOrMsg }
        : { name: nameOrMsg, id, toID, data, save, expires, associatedMsgID, associatedUserID };
    msg.toID = msg.toID || MSG_TO_ALLUSER;
    msg.id = msg.id || msg.name;
    msg.data = msg.data === undefined ? {} : msg.data;
    msg.save = Boolean(msg.save);
    for (const k of Object.keys(msg)) if (msg[k] === undefined) delete msg[k];
    return this._req("pubMsg", msg);
  }

  delMsg(nameOrMsg, id, toID, data) {
    const msg =
      typeof nameOrMsg === "object" && nameOrMsg !== null
        ? { ...nameOrMsg }
        : { name: nameOrMsg, id, toID, data };
    msg.toID = msg.toID || MSG_TO_ALLUSER;
    msg.id = msg.id || msg.name;
    if (msg.data === undefined) delete msg.data;
    return this._req("delMsg", msg);
  }

  changeUserProperty(id, toID, properties) {
    return this._req("setProperty", { id, toID: toID || MSG_TO_ALLUSER, properties });
  }

  changeUserPropertyByRole(roles, toID, properties) {
    return this._req("setProperty", { id: { roles }, toID: toID || MSG_TO_ALLUSER, properties });
  }

  batchChangeUserProperty(ids, toID, properties) {
    return this._req("setProperty", { id: { ids }, toID: toID || MSG_TO_ALLUSER, properties });
  }

  evictUser(id, reason) {
    return this._req("evictParticipant", reason === undefined ? { id } : { id, reason });
  }

  async joinGroup(groupid) {
    try {
      return await this._req("joinGroup", { groupid });
    } catch (err) {
      if (err.code === 155 || err.code === 156) throw err;
      throw new TKError(2511, err.message);
    }
  }

  leaveGroup() {
    return this._req("leaveGroup", {});
  }

  changeUserPublish(id, publishstate) {
    return this.changeUserProperty(id, MSG_TO_ALLUSER, { publishstate });
  }

  // ---- class state messages ----------------------------------------------------------------

  switchOnlyAudioRoom(onlyAudio) {
    if (onlyAudio) return this.pubMsg({ name: "OnlyAudioRoom", id: "OnlyAudioRoom", toID: "__all", save: true, data: {} });
    return this.delMsg({ name: "OnlyAudioRoom", id: "OnlyAudioRoom", toID: "__all" });
  }

  /**
   * Starts server recording. As in the original, the saved ClassBegin message carries the
   * recording settings (so it also begins the class); the class start time is kept.
   */
  startServerRecord(opts = {}) {
    const begun = this.msgs.get("ClassBegin");
    const data = {
      ...((begun && begun.data) || {}),
      recordtype: String(opts.recordType ?? opts.recordtype ?? "0"),
      convert: opts.convert ?? 0,
      layout: opts.layout ?? 0,
      record: true,
    };
    if (opts.recordChat || opts.recordchat) data.recordchat = true;
    if (!data.started) data.started = Date.now();
    return this.pubMsg({ name: "ClassBegin", id: "ClassBegin", toID: "__all", save: true, data });
  }

  /**
   * Stops server recording and keeps the class going (the original deleted ClassBegin, which
   * also ended the class; endClass() does that here).
   */
  async stopServerRecord() {
    await this._req("stopServerRecord", {});
    const begun = this.msgs.get("ClassBegin");
    if (begun) {
      const data = { ...(begun.data || {}) };
      for (const k of ["record", "recordtype", "convert", "layout", "recordchat"]) delete data[k];
      await this.pubMsg({ name: "ClassBegin", id: "ClassBegin", toID: "__all", save: true, data });
    }
  }

  /** Begins the class: the saved ClassBegin message; its data.started is the shared start time. */
  beginClass(data = {}) {
    return this.pubMsg({ name: "ClassBegin", id: "ClassBegin", toID: "__all", save: true, data: { started: Date.now(), ...data } });
  }

  /** Ends the class (and any recording): ClassBegin goes away. */
  endClass() {
    return this.delMsg({ name: "ClassBegin", id: "ClassBegin", toID: "__all" });
  }

  /** The room's courseware (ClientAPI getroomfile): [{fileid, filename, filetype, downloadpath, ...}]. */
  async getFileList() {
    const serial = this._join && this._join.params.serial;
    const res = await clientApi(this.base || "", "getroomfile", { serial });
    return res.roomfile || [];
  }

  /**
   * Uploads courseware to the room (teacher, assistant): ClientAPI uploadfile with the join
   * ticket. `conversion` 1 (default) turns documents into page images; resolves with the fileid.
   */
  async uploadFile(file, opts = {}) {
    const serial = this._join && this._join.params.serial;
    const res = await clientApiForm(this.base || "", "uploadfile", {
      serial,
      ticket: this.ticket,
      conversion: opts.conversion ?? 1,
      filedata: file,
    });
    return res.fileid;
  }

  /** Removes a courseware file and its pages from the room (teacher, assistant). */
  deleteFile(fileid) {
    const serial = this._join && this._join.params.serial;
    return clientApi(this.base || "", "delroomfile", { serial, ticket: this.ticket, fileid });
  }

  /** The room's breakout groups (ClientAPI getgrouplist): [{groupid, groupname}]. */
  async getGroupList() {
    const serial = this._join && this._join.params.serial;
    const res = await clientApi(this.base || "", "getgrouplist", { serial });
    return res.grouplist || [];
  }

  // ---- publishing ----------------------------------------------------------------------------

  _myState() {
    return (this.self && this.self.properties && this.self.properties.publishstate) || 0;
  }

  _setMyState(state) {
    if (!this.self) return Promise.reject(new TKError(2508));
    return this.changeUserPublish(this.self.id, state);
  }

  publishVideo() {
    const s = this._myState();
    return this._setMyState(wantsAudio(s) ? 3 : 2);
  }

  unpublishVideo() {
    const s = this._myState();
    return this._setMyState(wantsAudio(s) ? 1 : s === 0 ? 0 : 4);
  }

  publishAudio() {
    const s = this._myState();
    return this._setMyState(wantsVideo(s) ? 3 : 1);
  }

  unpublishAudio() {
    const s = this._myState();
    return this._setMyState(wantsVideo(s) ? 2 : s === 0 ? 0 : 4);
  }

  /** Publishes camera and microphone together (going on stage on one's own, where allowed). */
  publishAV() {
    return this._setMyState(3);
  }

  unpublishAV() {
    return this._setMyState(0);
  }

  /** The browser's devices: {audioinput: [...], videoinput: [...], audiooutput: [...]} ({deviceId, label}). */
  async getDevices() {
    const out = { audioinput: [], videoinput: [], audiooutput: [] };
    const md = typeof navigator !== "undefined" ? navigator.mediaDevices : undefined;
    if (!md || typeof md.enumerateDevices !== "function") return out;
    for (const d of await md.enumerateDevices()) {
      if (out[d.kind]) out[d.kind].push({ deviceId: d.deviceId, label: d.label, groupId: d.groupId });
    }
    return out;
  }

  /**
   * Chooses the camera ("video") or microphone ("audio") by deviceId (null: the default).
   * A device in use is swapped at once: its publication is made again from the new one.
   */
  setDevice(kind, deviceId) {
    if (kind !== "audio" && kind !== "video") return Promise.reject(new TKError(103, "setDevice: kind is audio or video"));
    this.deviceIds[kind] = deviceId || null;
    return this._queue(async () => {
      const track = this.localTracks[kind];
      if (!track || (deviceId && track.getSettings().deviceId === deviceId)) return;
      track.onended = null;
      track.stop();
      this.localTracks[kind] = null;
      await this._applyPublishState();
    });
  }

  /** The chosen deviceId of a kind, or null (the browser's default). */
  getDevice(kind) {
    return this.deviceIds[kind] || null;
  }

  /** Tells the room whether a device of ours failed (the devicestate property, 0 = fine). */
  _reportDevice(kind, code) {
    if (this.deviceState[kind] === code || !this.self || !this.conn) return;
    this.deviceState = { ...this.deviceState, [kind]: code };
    this.changeUserProperty(this.self.id, MSG_TO_ALLUSER, { devicestate: { ...this.deviceState } }).catch(() => {});
  }

  setVideoProfile(profile) {
    this.videoProfile = profile ? { ...profile } : null;
  }

  /** Serialises media changes: a publishstate flip during a publish waits for it. */
  _queue(fn) {
    this._mediaQueue = this._mediaQueue.then(fn, fn).catch((err) => {
      console.warn("tkroom: media step failed", err);
    });
    return this._mediaQueue;
  }

  _syncPublishing() {
    return this._queue(() => this._applyPublishState());
  }

  /**
   * Makes the camera ("video") and microphone ("audio") publications match the own
   * publishstate: the media server takes them as two streams.
   */
  async _applyPublishState() {
    if (!this.conn || !this.self) return;
    const role = this.self.properties.role;
    const state = this._myState();
    const may = role !== 3 && role !== 4;
    const want = {
      audio: may && wantsAudio(state),
      video: may && wantsVideo(state) && !this.isOnlyAudioRoom(),
    };
    for (const kind of ["audio", "video"]) {
      if (!want[kind]) {
        const pub = this.pubs.get(kind);
        this.pubs.delete(kind);
        if (pub) await pub.stop(true);
        if (this.localTracks[kind]) {
          this.localTracks[kind].onended = null;
          this.localTracks[kind].stop();
          this.localTracks[kind] = null;
        }
        this._reportDevice(kind, 0);
        continue;
      }
      if (!this.localTracks[kind]) {
        try {
          const simulcast = kind === "video" && this.options.simulcast !== false && (await this._roomSimulcast);
          const constraints = kind === "video" ? this._videoConstraints(simulcast) : this._audioConstraints();
          const track = await acquireTrack(kind, constraints);
          track.onended = () => this._onTrackLost(kind, track);
          this.localTracks[kind] = track;
          this.dispatchEvent("device-success", { kind, deviceId: track.getSettings().deviceId });
          this._reportDevice(kind, 0);
        } catch (err) {
          this._deviceFailure(err, kind);
          continue;
        }
      }
      const pub = this.pubs.get(kind);
      if (pub && pub.stream.getTracks()[0] === this.localTracks[kind]) continue;
      if (pub) {
        this.pubs.delete(kind);
        await pub.stop(true);
      }
      await this._publish(kind, new MediaStream([this.localTracks[kind]]));
    }
    this._refreshLocalPlayers();
  }

  _audioConstraints() {
    return this.deviceIds.audio ? { deviceId: { exact: this.deviceIds.audio } } : true;
  }

  _videoConstraints(simulcast = false) {
    const p = this.videoProfile;
    const c = this.deviceIds.video ? { deviceId: { exact: this.deviceIds.video } } : {};
    if (simulcast) {
      // Chromium sends three simulcast layers only from about 960x540 up (two at 640x480):
      // capture 960x720 (4:3) so the layers are 960, 480 and 240 pixels wide.
      c.width = { ideal: Math.max(960, (p && p.width) || 0) };
      c.height = { ideal: Math.max(720, (p && p.height) || 0) };
      if (p && p.maxfps) c.frameRate = { max: p.maxfps };
      return c;
    }
    if (!p) return Object.keys(c).length ? c : true;
    if (p.width) c.width = { ideal: p.width };
    if (p.height) c.height = { ideal: p.height };
    if (p.maxfps) c.frameRate = { max: p.maxfps };
    return c;
  }

  async _publish(type, stream) {
    const simulcast = type === "video" && this.options.simulcast !== false && (await this._roomSimulcast);
    const pub = new Publisher(this.conn, stream, type, this.options.iceServers, { simulcast });
    pub.onfailed = (p) => this._restartPublisher(p);
    this.pubs.set(type, pub);
    try {
      await pub.start();
      this.failCounts.delete(`pub:${type}`);
    } catch (err) {
      if (this.pubs.get(type) === pub) this.pubs.delete(type);
      pub.stop(false);
      const code = err.code && err.code !== 2510 && err.code !== 2508 ? err.code : 131;
      this._notice("error", code, err.message, { type });
      // Just after a move the dead node's copy of this stream may still be listed (2601): a
      // node whose machine vanished (no socket closed) holds it until Janus's session timeout,
      // 60 s by default. Try again meanwhile.
      const justMoved = code === 2601 && this._movedAt && Date.now() - this._movedAt < 90000;
      if (code === 131 || code === 132 || justMoved) this._retryPublish(type);
    }
  }

  _retryPublish(type) {
    this._retryLater(`pub:${type}`, () => {
      if (type === "screen") {
        if (this.screenStream && !this.pubs.has("screen")) this._queue(() => this._publish("screen", this.screenStream));
      } else {
        this._syncPublishing();
      }
    });
  }

  _retryLater(key, fn) {
    const n = (this.failCounts.get(key) || 0) + 1;
    this.failCounts.set(key, n);
    const max = this.options.maxReconnectCount;
    if (max > 0 && n > max) {
      if (key.startsWith("pub:")) {
        this._notice("error", 134, undefined);
        this._notice("warn", key === "pub:audio" ? 1014 : 1013, undefined);
        if (this.self && key !== "pub:screen") {
          const s = this._myState();
          const next = key === "pub:audio" ? (wantsVideo(s) ? 2 : 0) : wantsAudio(s) ? 1 : 0;
          this._setMyState(next).catch(() => {});
        }
      }
      return;
    }
    setTimeout(fn, Math.min(500 * n, 5000));
  }

  _restartPublisher(pub) {
    if (this.pubs.get(pub.type) !== pub) return;
    this.pubs.delete(pub.type);
    pub.stop(true);
    this._notice("error", 131, "Publication failed (the SDK will automatically reconnect)", { type: pub.type });
    this._retryPublish(pub.type);
  }

  _onTrackLost(kind, track) {
    if (this.localTracks[kind] !== track) return;
    this.localTracks[kind] = null;
    const code = trackLostCode(kind);
    this.dispatchEvent("device-failure", { code, kind, message: MESSAGES[code] });
    this._notice("error", code, MESSAGES[code], { kind, source: "sdk" });
    this._reportDevice(kind, code);
    const pub = this.pubs.get(kind);
    this.pubs.delete(kind);
    if (pub) pub.stop(true);
    this._refreshLocalPlayers();
  }

  _deviceFailure(err, kind) {
    const code = err.code || (kind === "audio" ? 2001 : 2002);
    this.dispatchEvent("device-failure", { code, kind, message: err.message, browserError: err.browserError });
    this._notice("error", code, err.message, { kind, browserError: err.browserError, source: "sdk" });
    this._notice("warn", kind === "video" ? 1015 : 1016, undefined, { kind });
    this._reportDevice(kind, code);
  }

  /** Shares the screen (getDisplayMedia); 2509 when the browser cannot, 2103 when refused. */
  async startShareScreen(options = {}) {
    const md = navigator.mediaDevices;
    if (!md || typeof md.getDisplayMedia !== "function") {
      const err = new TKError(2509);
      this._notice("error", 2509, err.message, { source: "sdk" });
      throw err;
    }
    let stream;
    try {
      stream = await md.getDisplayMedia({ video: true, audio: Boolean(options.audio) });
    } catch (e) {
      const code = screenErrorCode(e);
      const err = new TKError(code, undefined, { browserError: e && e.name });
      this._notice("error", code, err.message, { browserError: e && e.name, source: "sdk" });
      throw err;
    }
    if (!this.conn || !this.conn.connected) {
      for (const t of stream.getTracks()) t.stop();
      throw new TKError(2508);
    }
    this.screenStream = stream;
    for (const t of stream.getTracks()) t.onended = () => this.stopShareScreen();
    await this._queue(() => this._publish("screen", new MediaStream(stream.getVideoTracks())));
    this._refreshLocalPlayers();
    return stream;
  }

  async stopShareScreen() {
    const pub = this.pubs.get("screen");
    this.pubs.delete("screen");
    if (this.screenStream) for (const t of this.screenStream.getTracks()) t.stop();
    this.screenStream = null;
    if (pub) await pub.stop(true);
    this._refreshLocalPlayers();
  }

  // ---- playing -----------------------------------------------------------------------------

  _element(el) {
    return typeof el === "string" ? document.getElementById(el) : el;
  }

  /**
   * Shows a user's camera (or screen, options.type = "screen") in `element` (an id or a node;
   * a <video> is created inside unless it is one). Works before the stream exists: the video
   * appears when it does.
   */
  playVideo(userId, element, options = {}, onFail) {
    const host = this._element(element);
    if (!host) {
      const err = new TKError(103, "playVideo: no such element");
      if (onFail) onFail(err);
      return Promise.reject(err);
    }
    const type = options.type || "video";
    let video = host.tagName === "VIDEO" ? host : host.querySelector(`video[data-tk="${type}"]`);
    if (!video) {
      video = document.createElement("video");
      video.setAttribute("data-tk", type);
      video.playsInline = true;
      host.appendChild(video);
    }
    video.muted = true; // sound goes through playAudio's element
    if (options.mode) video.style.objectFit = options.mode;
    video.dataset.userid = userId;
    this.players.set(`${userId}:${type}`, video);
    if (options.layer) this._preferLayer(userId, type, options.layer);
    this._attach(userId, type);
    return Promise.resolve(video);
  }

  unplayVideo(userId, options = {}) {
    const key = `${userId}:${options.type || "video"}`;
    const video = this.players.get(key);
    if (video) {
      video.srcObject = null;
      if (video.hasAttribute("data-tk")) video.remove();
    }
    this.players.delete(key);
  }

  /** Plays a user's microphone through a hidden <audio> (or the given element). */
  playAudio(userId, element) {
    if (this.self && userId === this.self.id) return Promise.resolve(null);
    let audio = element ? this._element(element) : null;
    if (!audio) {
      audio = document.createElement("audio");
      audio.hidden = true;
      document.body.appendChild(audio);
    }
    audio.dataset.userid = userId;
    this.players.set(`${userId}:audio`, audio);
    this._attach(userId, "audio");
    return Promise.resolve(audio);
  }

  unplayAudio(userId) {
    const key = `${userId}:audio`;
    const audio = this.players.get(key);
    if (audio) {
      audio.srcObject = null;
      audio.remove();
    }
    this.players.delete(key);
  }

  _refreshLocalPlayers() {
    if (!this.self) return;
    this._attach(this.self.id, "video");
    this._attach(this.self.id, "screen");
  }

  _streamFor(userId, type) {
    if (this.self && userId === this.self.id) {
      if (type === "screen") return this.screenStream;
      if (type === "video") return this.localTracks.video ? new MediaStream([this.localTracks.video]) : null;
      return null;
    }
    for (const sub of this.subs.values()) {
      if (sub.info.userId === userId && sub.info.type === type) return sub.stream;
    }
    return null;
  }

  _attach(userId, type) {
    const el = this.players.get(`${userId}:${type}`);
    if (!el) return;
    const stream = this._streamFor(userId, type);
    const tracks = !stream ? [] : type === "audio" ? stream.getAudioTracks() : stream.getVideoTracks();
    const ids = tracks.map((t) => t.id).join(",");
    // Compared by object, not id: a new subscription's tracks may carry the old ones' ids
    // (Janus names them by mid), and the element must not keep playing the dead ones.
    const shown = el.srcObject ? el.srcObject.getTracks() : [];
    if (shown.length === tracks.length && tracks.every((t) => shown.includes(t)) && (el.srcObject || !tracks.length)) return;
    el.dataset.tracks = ids;
    el.srcObject = tracks.length ? new MediaStream(tracks) : null;
    if (!tracks.length) return;
    if (type !== "audio") this._watchFirstFrame(el, userId, type);
    this._play(el, type === "audio" ? "audio" : "video", userId);
  }

  _watchFirstFrame(video, userId, type) {
    const report = () => {
      this.dispatchEvent("room-first-video-frame", {
        userId,
        userid: userId,
        type,
        width: video.videoWidth,
        height: video.videoHeight,
      });
    };
    if (typeof video.requestVideoFrameCallback === "function") video.requestVideoFrameCallback(() => report());
    else video.addEventListener("loadeddata", report, { once: true });
  }

  _play(el, kind, userId) {
    const p = el.play();
    if (!p || typeof p.catch !== "function") return;
    p.catch((err) => {
      if (!err || err.name !== "NotAllowedError") return;
      const code = autoplayCode(kind);
      this.pendingPlay.add(el);
      this._notice("error", code, MESSAGES[code], { userId, kind, resumable: true, source: "sdk" });
      this.dispatchEvent("device-failure", { code, kind, userId, message: MESSAGES[code], resumable: true });
      // The next click anywhere on the page counts as the interaction the browser wants.
      document.addEventListener("click", () => this.resumePlayback(), { once: true, capture: true });
    });
  }

  /** Retries every play() the autoplay policy refused; call it from a user gesture. */
  resumePlayback() {
    const waiting = [...this.pendingPlay];
    this.pendingPlay.clear();
    return Promise.all(
      waiting.map((el) =>
        el.play().catch((err) => {
          if (err && err.name === "NotAllowedError") this.pendingPlay.add(el);
        }),
      ),
    ).then(() => this.pendingPlay.size === 0);
  }

  /** Decoding counters of a subscribed stream, "video" | "audio" | "screen" (diagnostics, tests). */
  async getRemoteStats(userId, type = "video") {
    for (const sub of this.subs.values()) {
      if (sub.info.userId === userId && sub.info.type === type) return sub.stats();
    }
    return null;
  }

  /**
   * Asks the media server for one simulcast layer of a subscribed stream: "high" for a large
   * tile, "low" for a thumbnail ("medium" between). Kept for later subscriptions of the same
   * stream. A weak link may still hold the stream lower (room-video-layer-changed says so).
   * Resolves with the layer forwarded now, or null when the stream has one layer only.
   */
  async setVideoLayer(streamId, layer) {
    if (!LAYERS.includes(layer)) throw new TKError(103, `setVideoLayer: layer must be one of ${LAYERS.join(", ")}`);
    const entry = this.remote.get(streamId);
    this.layerPrefs.set(streamId, layer);
    if (entry) this.layerPrefs.set(`${entry.userId}:${entry.type}`, layer);
    const sub = this.subs.get(streamId);
    if (!sub || !sub.subscriptionId || !this.conn) return null;
    const ack = await this._req("setVideoLayer", { subscriptionId: sub.subscriptionId, layer });
    sub.layer = ack.layer || null;
    return sub.layer;
  }

  _preferLayer(userId, type, layer) {
    if (!LAYERS.includes(layer)) return;
    const key = `${userId}:${type}`;
    if (this.layerPrefs.get(key) === layer) return;
    this.layerPrefs.set(key, layer);
    for (const sub of this.subs.values()) {
      if (sub.info.userId === userId && sub.info.type === type) this.setVideoLayer(sub.streamId, layer).catch(() => {});
    }
  }

  _layerFor(entry) {
    if (!entry.simulcast) return undefined;
    return this.layerPrefs.get(entry.streamId) || this.layerPrefs.get(`${entry.userId}:${entry.type}`);
  }

  /** The layers a local publication sends now ([{rid, width, height, fps}]; diagnostics, tests). */
  async getPublishLayers(type = "video") {
    const pub = this.pubs.get(type);
    return pub ? pub.layers() : [];
  }

  /** The connection state of a local publication ("video" | "audio" | "screen"), or "none". */
  getPublishState(type = "video") {
    const pub = this.pubs.get(type);
    return pub ? pub.pc.connectionState : "none";
  }

  // ---- subscribing -------------------------------------------------------------------------

  _onAddStream(info) {
    const streamId = info.streamId;
    if (!streamId) return;
    const entry = { ...info, userId: info.userId || info.userid, type: info.type || "video" };
    const replaced = this.remote.has(streamId);
    this.remote.set(streamId, entry);
    if (this.self && entry.userId === this.self.id) return;
    // Announced again while we play it: it was published anew (its owner moved to another
    // node), so the old subscription plays a dead feed: subscribe to the new one.
    const old = replaced && this.subs.get(streamId);
    if (old) {
      this.subs.delete(streamId);
      old.stop(true);
    }
    this.dispatchEvent("room-remote-stream-added", { stream: entry, userId: entry.userId });
    if (this.options.autoSubscribeAV) this._subscribe(entry);
  }

  _onRemoveStream(info) {
    const streamId = info.streamId;
    const entry = this.remote.get(streamId);
    // a removal that names another publication of the stream is about an older one (its node
    // died and the owner republished through another): the newer one stays
    if (entry && info.publicationId && entry.publicationId &&
        entry.publicationId !== info.publicationId) return;
    this.remote.delete(streamId);
    for (const [key, sub] of [...this.subs]) {
      if (sub.streamId !== streamId) continue;
      this.subs.delete(key);
      sub.stop(false);
    }
    if (entry) {
      this._attach(entry.userId, entry.type);
      if (!this.self || entry.userId !== this.self.id) {
        this.dispatchEvent("room-remote-stream-removed", { stream: entry, userId: entry.userId });
      }
    }
  }

  /** Subscribes to one remote stream by id (automatic unless autoSubscribeAV is false). */
  subscribe(streamId) {
    const entry = this.remote.get(streamId);
    if (!entry) return Promise.reject(new TKError(143));
    return this._subscribe(entry);
  }

  async _subscribe(entry) {
    if (this.subs.has(entry.streamId) || !this.conn) return;
    const sub = new Subscriber(this.conn, entry, this.options.iceServers, { dtlsPassive: this.options.dtlsPassive });
    sub.onfailed = (s) => this._restartSubscriber(s);
    this.subs.set(entry.streamId, sub);
    sub.pc.addEventListener("track", () => this._attach(entry.userId, entry.type));
    try {
      await sub.start(this._layerFor(entry));
      this.failCounts.delete(`sub:${entry.streamId}`);
      this._attach(entry.userId, entry.type);
    } catch (err) {
      if (this.subs.get(entry.streamId) === sub) this.subs.delete(entry.streamId);
      sub.stop(false);
      const code = err.code === 143 ? 143 : err.code && err.code < 2500 && err.code !== 102 ? err.code : 141;
      this._notice("error", code, err.message, { userId: entry.userId, streamId: entry.streamId });
      if (code !== 143 && this.remote.has(entry.streamId)) this._retrySubscribe(entry.streamId);
    }
  }

  _retrySubscribe(streamId) {
    this._retryLater(`sub:${streamId}`, () => {
      const entry = this.remote.get(streamId);
      if (entry && !this.subs.has(streamId)) this._subscribe(entry);
    });
  }

  _restartSubscriber(sub) {
    if (this.subs.get(sub.streamId) !== sub) return;
    this.subs.delete(sub.streamId);
    sub.stop(true);
    this._notice("error", 141, "Subscription failed (the SDK will automatically reconnect)", { streamId: sub.streamId });
    this._retrySubscribe(sub.streamId);
  }

  /** The media server's own notices about our streams: retry what it gave up on. */
  _onMediaNotice(data) {
    const { kind, code } = data;
    if (kind === "error" && (code === 131 || code === 132) && this.self && data.userId === this.self.id) {
      const pub = this.pubs.get(data.type);
      // a notice about an attempt already replaced (same stream id) leaves the current one alone
      const stale = pub && data.publicationId && data.publicationId !== pub.publicationId;
      if (pub && !stale) {
        this.pubs.delete(data.type);
        pub.stop(false);
        this._retryPublish(data.type);
      }
    } else if (kind === "error" && (code === 141 || code === 142)) {
      const sub = [...this.subs.values()].find((s) => s.subscriptionId === data.subscriptionId);
      if (sub) {
        this.subs.delete(sub.streamId);
        sub.stop(false);
        this._retrySubscribe(sub.streamId);
      }
    } else if (code === 1012) {
      this._syncPublishing();
    }
  }

  // ---- events from the server -----------------------------------------------------------------

  _notice(kind, code, msg, extra = {}) {
    const type = kind === "error" ? "room-error-notice" : kind === "warn" ? "room-warn-notice" : "room-info-notice";
    // The SDK's device codes are described in the sdk namespace; the room's in the notice's own.
    const own = extra.source === "sdk" ? DESCRIPTIONS.sdk : DESCRIPTIONS[NOTICE_NS[kind]];
    const message = msg || own[code] || DESCRIPTIONS.webapi[code] || MESSAGES[code] || `status ${code}`;
    this.dispatchEvent(type, { code, message, errorCode: code, errorInfo: message, ...extra });
  }

  _onEvent(ev, data) {
    const handler = this._handlers[ev];
    if (handler) handler.call(this, data);
    else this.dispatchEvent(`room-signal-${ev}`, { message: data });
  }

  _setSelfProps(props) {
    const before = this._myState();
    Object.assign(this.self.properties, props);
    if ("publishstate" in props && props.publishstate !== before) this._syncPublishing();
  }
}

Room.prototype._handlers = {
  participantJoined(user) {
    this.users.set(user.id, user);
    this.dispatchEvent("room-participant_join", { user });
  },
  participantLeft(data) {
    const user = this.users.get(data.id) || { id: data.id, properties: {} };
    this.users.delete(data.id);
    this.board.onUserLeft(data.id);
    for (const [sid, entry] of [...this.remote]) if (entry.userId === data.id) this._onRemoveStream({ streamId: sid });
    this.dispatchEvent("room-participant_leave", { user });
  },
  participantEvicted(data) {
    if (this.self && data.id === this.self.id) {
      this._teardown();
      this.dispatchEvent("room-participant_evicted", { reason: data.reason, fromID: data.fromID });
    } else {
      this._handlers.participantLeft.call(this, data);
    }
  },
  setProperty(data) {
    const ids = typeof data.id === "string" ? [data.id] : [];
    for (const id of ids) {
      const user = this.users.get(id) || (this.self && this.self.id === id ? this.self : null);
      if (!user) continue;
      const before = { ...user.properties };
      if (this.self && id === this.self.id) this._setSelfProps(data.properties);
      else Object.assign(user.properties, data.properties);
      this.dispatchEvent("room-userproperty-changed", { user, message: data.properties, fromID: data.fromID });
      if ("publishstate" in data.properties && data.properties.publishstate !== before.publishstate) {
        const was = before.publishstate || 0;
        const now = data.properties.publishstate || 0;
        if (wantsVideo(was) !== wantsVideo(now)) this.dispatchEvent("room-uservideostate-changed", { userId: id, published: wantsVideo(now) });
        if (wantsAudio(was) !== wantsAudio(now)) this.dispatchEvent("room-useraudiostate-changed", { userId: id, published: wantsAudio(now) });
        this.dispatchEvent("room-usermediastate-changed", { userId: id, publishstate: now });
      }
    }
  },
  sendMessage(data) {
    const user = this.users.get(data.fromID);
    this.dispatchEvent("room-text-message", {
      user,
      userid: data.fromID,
      nickname: data.nickname,
      role: data.role,
      message: data.message,
      toID: data.toID,
      ts: data.ts,
    });
  },
  pubMsg(data) {
    if (data.save) this.msgs.set(data.id, data);
    if (data.name === "SharpsChange" && data.data && data.data.eventType === "clearEvent") {
      // A clear removes the page's saved shapes in one step, with no delMsg per shape.
      const page = parseShapeMsgId(data.id);
      for (const id of [...this.msgs.keys()]) {
        const shape = parseShapeMsgId(id);
        if (page && shape && shape.kind === "SharpsChange" && shape.key === page.key) this.msgs.delete(id);
      }
    }
    this.board.onPubMsg(data);
    this.tools.onPubMsg(data);
    this.dispatchEvent("room-pubmsg", { message: data });
    if (data.name === "OnlyAudioRoom") {
      if (this.localTracks.video) this._notice("warn", 1011, undefined);
      this.dispatchEvent("room-audiovideostate-switched", { fromId: data.fromID, onlyAudio: true });
      this._syncPublishing();
    }
  },
  delMsg(data) {
    this.msgs.delete(data.id);
    this.board.onDelMsg(data);
    this.tools.onDelMsg(data);
    this.dispatchEvent("room-delmsg", { message: data });
    if (data.name === "OnlyAudioRoom" || data.id === "OnlyAudioRoom") {
      if (wantsVideo(this._myState())) this._notice("warn", 1012, undefined);
      this.dispatchEvent("room-audiovideostate-switched", { fromId: data.fromID, onlyAudio: false });
      this._syncPublishing();
    }
  },
  msgList(data) {
    this._setSaved(data.msglist, data.board);
    this.dispatchEvent("room-msglist", { message: this.getSavedMessages() });
  },
  roomModeChanged(data) {
    this.mode = data.mode;
    this.dispatchEvent("room-mode-changed", { mode: data.mode });
  },
  notice(data) {
    const { kind, code, msg, ...rest } = data;
    this._notice(kind, code, msg, rest);
    this._onMediaNotice(data);
  },
  forceReconnect() {
    if (this.conn) this.conn.reconnectNow();
  },
  participantPublished(user) {
    // Big-room mode: someone was brought on stage (others' joins are not announced there).
    const known = this.users.has(user.id);
    this.users.set(user.id, user);
    if (!known) this.dispatchEvent("room-participant_join", { user, published: true });
    this.dispatchEvent("room-userproperty-changed", { user, message: { publishstate: user.properties.publishstate }, fromID: null });
  },
  mediaServerChanged(data) {
    // The room's media moved: its streams were removed first; publish again where it now is.
    this.dispatchEvent("room-serveraddress-update", { serverName: data.serverName, reason: data.reason });
    if (!data.serverName) return;
    for (const pub of this.pubs.values()) pub.stop(false);
    this.pubs.clear();
    this._syncPublishing();
    if (this.screenStream) this._queue(() => this._publish("screen", new MediaStream(this.screenStream.getVideoTracks())));
  },
  onAddStream(data) {
    this._onAddStream(data);
  },
  onVideoLayer(data) {
    // The media server changed the layer it forwards: asked for, or the link lost packets
    // ("slow_link") or recovered ("recovered").
    const sub = [...this.subs.values()].find((x) => x.subscriptionId === data.subscriptionId);
    if (!sub) return;
    sub.layer = data.layer;
    this.dispatchEvent("room-video-layer-changed", {
      userId: sub.info.userId,
      streamId: sub.streamId,
      type: sub.info.type,
      layer: data.layer,
      preferred: data.preferred,
      reason: data.reason,
    });
  },
  onRemoveStream(data) {
    this._onRemoveStream(data);
  },
  signaling_message_mediaserver(data) {
    const id = data.subscriptionId || data.streamId;
    const target =
      [...this.subs.values()].find((x) => x.subscriptionId === id || x.streamId === id) ||
      [...this.pubs.values()].find((p) => p.streamId === id);
    if (target) target.onServerMessage(data.candidate || data.msg);
  },
};
