// src/codes.js
var TK_ERR = Object.freeze({
  ERR_ADM_RECORDING_DEVICE_NOT_FOUND: 101,
  ERR_ADM_PLAYOUT_DEVICE_NOT_FOUND: 102,
  ERR_VDM_CAMERA_NOT_FOUND: 151,
  ERR_ADM_RECORDING_DEVICE_NOT_ALLOWED: 103,
  ERR_VDM_CAMERA_NOT_ALLOWED: 152,
  ERR_ADM_RECORDING_DEVICE_NOT_READABLE: 104,
  ERR_VDM_CAMERA_NOT_READABLE: 153,
  ERR_ADM_UNKNOWN_ERROR: 2001,
  ERR_VDM_UNKNOWN_ERROR: 2002,
  ERR_ADM_RECORDING_TRACK_NOT_AVAILABLE: 2003,
  ERR_VDM_VIDEO_TRACK_NOT_AVAILABLE: 2004,
  ERR_ADM_RECORDING_OVER_CONSTRAINTS: 2005,
  ERR_VDM_VIDEO_OVER_CONSTRAINTS: 2006,
  ERR_ADM_TYPE_ERROR: 2007,
  ERR_VDM_TYPE_ERROR: 2008,
  ERR_ADM_CAMERA_LOST: 2009,
  ERR_ADM_PLAYOUT_LOST: 2010,
  ERR_VDM_RECORDING_LOST: 2011,
  ERR_ADM_PLAY_MEDIA_NOT_ALLOWED: 2101,
  ERR_VDM_PLAY_MEDIA_NOT_ALLOWED: 2102,
  ERR_MSM_SCREEN_SHARE_NOT_ALLOWED: 2103,
  ROOM_NOT_CONNECT: 2508,
  CHECK_USERDesktopMediaError: 2509,
  Server_Exception: 2510,
  ROOM_JOIN_GROUP_FAILED: 2511,
  PUBLISH_FAILED: 2526,
  UNPUBLISH_FAILED: 2527,
  SUBSCRIBE_FAILED: 2528,
  UNSUBSCRIBE_FAILED: 2529,
  ROOM_LINK_FAILED: 2600,
  PUBLICATIONS_EXCEED_LIMIT: 2601,
  MAX_ATTEMPTS_EXCEEDED: 2602
});
var ERROR_NOTICE = Object.freeze({
  ERR_OK: 0,
  ERR_CHAT_TEXT_TOO_LONG: 61,
  ERR_CHAT_SPEED_TOO_FAST: 62,
  ERR_JOINROOM_WRONG_PARAM: 63,
  ERR_JOINROOM_STUDENT_LIMIT_EXCEED: 64,
  ERR_NOT_INITIALIZED: 101,
  ERR_INVALID_STATUS: 102,
  ERR_BAD_PARAMETERS: 103,
  ERR_NO_THIS_USER: 104,
  ERR_HTTP_REQUEST_FAILED: 111,
  ERR_PUBLISH_FAILED: 131,
  ERR_PUBLISH_TIMEOUT: 132,
  ERR_PUBLISH_ROOMMAXVIDEOLIMITED: 133,
  ERR_PUBLISH_MAX_RECONNECT_COUNT: 134,
  ERR_SUBSCRIBE_FAILED: 141,
  ERR_SUBSCRIBE_TIMEOUT: 142,
  ERR_SUBSCRIBE_STREAM_NOTFOUND: 143,
  ERR_SWITCH_SERVER_FAILED: 151,
  ERR_SERVER_RECORDED: 153,
  ERR_SERVER_NOTRECORDED: 154,
  ERR_JOINGROUP_TIMEOUT: 155,
  ERR_JOINGROUP_FAILED: 156
});
var INFO_NOTICE = Object.freeze({
  INFO_PUBLISH_COMPLETED: 2001,
  INFO_SUBSCRIBE_COMPLETED: 2002
});
var WARNING_NOTICE = Object.freeze({
  WAR_UNPUBLISHVIDEO_BY_SWITCHAUDIOROOM: 1011,
  WAR_PUBLISHVIDEO_BY_SWITCHAUDIOVIDEOROOM: 1012,
  WAR_UNPUBLISHVIDEO_BY_MAX_RECONNECT_COUNT: 1013,
  WAR_UNPUBLISHAUDIO_BY_MAX_RECONNECT_COUNT: 1014,
  WAR_UNPUBLISHVIDEO_BY_GET_DEVICE_MEDIASTREAM_FAILURE: 1015,
  WAR_UNPUBLISHAUDIO_BY_GET_DEVICE_MEDIASTREAM_FAILURE: 1016
});
var WEBAPI = Object.freeze({
  SERVER_EXPIRED: 3001,
  COMPANY_FROZEN: 3002,
  ROOM_DELETED_OR_EXPIRED: 3003,
  COMPANY_NOT_EXIST: 4001,
  ACCOUNT_OR_PASSWORD_INCORRECT: 4002,
  ROOM_NAME_EMPTY: 4003,
  TIME_FORMAT_INCORRECT: 4004,
  TIME_SETTING_INCORRECT: 4005,
  CHAIRMAN_PWD_FORMAT_INCORRECT: 4006,
  ROOM_NOT_EXIST: 4007,
  ROOM_PASSWORD_INCORRECT: 4008,
  STUDENT_PWD_FORMAT_INCORRECT: 4009,
  PASSWORD_FORMAT_INCORRECT: 4010,
  ROOM_TYPE_REQUIRED: 4011,
  COMPANY_ID_REQUIRED: 4101,
  COMPANY_ID_MISMATCH: 4102,
  ROOM_QUOTA_EXCEEDED: 4103,
  NO_MATCHING_DATA: 4105,
  ROOM_FILE_LIMIT_EXCEEDED: 4106,
  DATABASE_ERROR: 4107,
  NO_PERMISSION: 4108,
  AUTH_INCORRECT: 4109,
  ROOM_PASSWORD_REQUIRED: 4110,
  REGISTERED_USER_REQUIRED: 4111,
  GROUP_ID_REQUIRED: 4200,
  GROUP_NAME_REQUIRED: 4201,
  FILE_ID_REQUIRED: 4202,
  ACCOUNT_AND_PASSWORD_REQUIRED: 5e3,
  PASSWORDREQUIRED_REQUIRED: 5001,
  CHAIRMAN_PWD_REQUIRED: 5002,
  STUDENT_PWD_REQUIRED: 5003,
  START_END_TIME_REQUIRED: 5004,
  SIDELINE_PWD_REQUIRED: 5005,
  PARTICIPANT_PWD_FORMAT_INCORRECT: 5006,
  SIDELINE_PWD_INCORRECT: 5007,
  MAXUSERS_FORMAT_INCORRECT: 5008,
  MAXUSERS_OUT_OF_RANGE: 5009,
  MAXSIDELINEUSERS_FORMAT_INCORRECT: 5010,
  MAXSIDELINEUSERS_OUT_OF_RANGE: 5011,
  MAXVIDEO_FORMAT_INCORRECT: 5012,
  MAXVIDEO_OUT_OF_RANGE: 5013,
  MAXAUDIO_FORMAT_INCORRECT: 5014,
  MAXAUDIO_OUT_OF_RANGE: 5015,
  VIDEOTYPE_FORMAT_INCORRECT: 5016,
  ROOMLAYOUT_FORMAT_INCORRECT: 5017,
  ASSISTANT_PWD_REQUIRED: 5018,
  PATROL_PWD_REQUIRED: 5019,
  VIDEOTYPE_ABOVE_LIMIT: 5020,
  SERIAL_REQUIRED: 5100,
  USER_ACCOUNT_REQUIRED: 5101,
  ROOM_PASSWORD_REPEATED: 5102,
  CHAIRMAN_PWD_INCORRECT: 5200,
  SIDELINE_PWD_WRONG: 5201,
  STUDENT_PWD_INCORRECT: 5203,
  PASSWORD_MISSING: 5204,
  NICKNAME_REQUIRED: 5205,
  DATA_WRITE_FAILED: 5206,
  USER_TYPE_INVALID: 5207,
  USER_ALREADY_LOGGED_IN: 5208,
  LOGIN_KEY_REQUIRED: 5300,
  LOGIN_KEY_INCORRECT: 5301,
  SERVER_ID_INCORRECT: 6e3,
  SERVER_IP_INCORRECT: 6001,
  SERVER_MAXUSERS_OUT_OF_RANGE: 6002,
  SERVER_MAXSIDELINEUSERS_OUT_OF_RANGE: 6003
});
var DESCRIPTIONS = Object.freeze({
  webapi: Object.freeze({
    3001: "Server Expired",
    3002: "The company has been frozen",
    3003: "The room has been deleted or expired",
    4001: "The company does not exist",
    4002: "The username or password is incorrect",
    4003: "The room name is not allowed to be empty",
    4004: "The time format is incorrect",
    4005: "The time setting is incorrect",
    4006: "The teacher's password format is incorrect",
    4007: "The room does not exist, the room is invalid or has been deleted, or the room has expired",
    4008: "The room password is incorrect",
    4009: "The password format for the student user is incorrect",
    4010: "The password format is incorrect",
    4011: "The room type is required",
    4101: "Enterprise ID verification is required",
    4102: "Error in verifying the Enterprise ID",
    4103: "The number of rooms exceeds the maximum limit",
    4105: "No data matches the criteria",
    4106: "The number of room files exceeds the quantity limit",
    4107: "Database operation error",
    4108: "No permission",
    4109: "Auth is not correct",
    4110: "This room requires a password. Please enter the password",
    4111: "The user is not registered or the password is incorrect. This room requires registered users to participate",
    4200: "Group ID is required",
    4201: "Group name is required",
    4202: "File ID is required",
    5e3: "Username and password are required",
    5001: "Whether the room has a password is required",
    5002: "Chairman password is required",
    5003: "The room's general password is required",
    5004: "Start time and end time are required",
    5005: "If allowing eavesdropping users, a password should be provided",
    5006: "The password format for the room participants is incorrect",
    5007: "The password for the eavesdropping user is incorrect",
    5008: "The format of the maximum number of users is incorrect",
    5009: "The maximum number of users exceeds the limit",
    5010: "The maximum number of eavesdropping users is incorrect",
    5011: "The maximum number of eavesdropping users exceeds the limit",
    5012: "The format of the maximum number of videos is incorrect",
    5013: "The maximum number of videos is incorrect",
    5014: "The format of the maximum number of audio streams is incorrect",
    5015: "The maximum number of audio streams is incorrect",
    5016: "The format of the video resolution parameter is incorrect",
    5017: "The format of the layout parameter is incorrect",
    5018: "The assistant password is required",
    5019: "The password for the monitoring course is required",
    5020: "The video resolution is incorrect or exceeds the enterprise limit",
    5100: "Room number is required",
    5101: "User account is required",
    5102: "The room password cannot be repeated",
    5200: "The chairman password is incorrect",
    5201: "The eavesdropping password is incorrect",
    5203: "Student password",
    5204: "No password",
    5205: "Nickname or name is required",
    5206: "Data write failed",
    5207: "User type: 0 - Lecturer (Teacher), 1 - Assistant, 2 - Student, 3 - Live Streaming User, 4 - Inspector",
    5208: "The user has already logged in",
    5300: "The 40-character login key is required",
    5301: "The 40-character key is incorrect",
    6e3: "The server ID is incorrect",
    6001: "The IP address is incorrect",
    6002: "The number of regular users exceeds the range",
    6003: "The number of eavesdropping users exceeds the range"
  }),
  sdk: Object.freeze({
    101: "No recording device available",
    102: "No playback device available",
    151: "No video device available",
    103: "The recording device is not authorized",
    152: "The video device is not authorized",
    104: "The recording device is unavailable, possibly occupied by another application",
    153: "The video device is unavailable, possibly occupied by another application",
    2001: "Unknown audio error",
    2002: "Unknown video error",
    2003: "The audio track is unavailable",
    2004: "The video track is unavailable",
    2005: "Audio constraints exception",
    2006: "Video constraints exception",
    2007: "Invalid audio constraints",
    2008: "Invalid video constraints",
    2009: "The camera in use has been removed",
    2010: "The speaker in use has been removed",
    2011: "The microphone in use has been removed",
    2101: "The lack of human-computer interaction prevents the audio from playing",
    2102: "The lack of human-computer interaction prevents the video from playing",
    2103: "Screen sharing failed",
    2508: "No successful connection to the room error code",
    2509: "Web sharing plugin not detected",
    2510: "Server exception",
    2511: "Failed to join the group",
    2526: "Failed to publish",
    2527: "Failed to cancel the post",
    2528: "Subscription failed",
    2529: "Failed to unsubscribe",
    2600: "Room link failed",
    2601: "The number of posts exceeds the limit",
    2602: "Exceeded the maximum allowed number of times"
  }),
  error_notice: Object.freeze({
    0: "Success",
    61: "The length of the text message is greater than or equal to 1024",
    62: "The interval between sending text messages is less than or equal to 1000 milliseconds",
    63: "Error in joining room parameters",
    64: "The number of students has exceeded the limit",
    101: "Not initialized",
    102: "Invalid status",
    103: "The parameter is incorrect",
    104: "There is no such user",
    111: "The web interface request failed",
    131: "Publication failed (the SDK will automatically reconnect)",
    132: "Publication timed out (the SDK will automatically reconnect)",
    133: "Media link exceeded the limit",
    134: "The number of publication reconnection attempts has exceeded the specified maximum number of reconnects. [Note: The maximum number of reconnects is unlimited by default and can be configured via the joinroom interface.]",
    141: "Subscription failed (the SDK will automatically reconnect)",
    142: "Subscription timed out (the SDK will automatically reconnect)",
    143: "The stream has not been published",
    151: "Failed to switch servers",
    153: "The server recording has already been started or is currently in progress. There is no need to call the start recording interface again",
    154: "Recording has not started",
    155: "Joining group timed out",
    156: "Failed to join the group"
  }),
  info_notice: Object.freeze({
    2001: "Publication succeeded",
    2002: "Subscription succeeded"
  }),
  warning_notice: Object.freeze({
    1011: "When switching to a pure audio room, if a video has been published, the SDK will automatically unpublish the video",
    1012: "When switching to an audio and video room, if audio has been published, the SDK will automatically publish video",
    1013: "The number of publication reconnection attempts has exceeded the specified maximum number of reconnects, and the SDK will automatically unpublish the video",
    1014: "The number of publication reconnection attempts has exceeded the specified maximum number of reconnects, and the SDK will automatically unpublish the audio",
    1015: "Failed to obtain the device stream, and the SDK will automatically unpublish the video",
    1016: "Failed to obtain the device stream, and the SDK will automatically unpublish the audio"
  })
});
var MESSAGES = DESCRIPTIONS.sdk;

// src/errors.js
var TKError = class extends Error {
  constructor(code, message, extra = {}) {
    super(message || MESSAGES[code] || `status ${code}`);
    this.name = "TKError";
    this.code = code;
    Object.assign(this, extra);
  }
};
var BY_NAME = {
  NotFoundError: [101, 151],
  DevicesNotFoundError: [101, 151],
  NotAllowedError: [103, 152],
  PermissionDeniedError: [103, 152],
  SecurityError: [103, 152],
  NotReadableError: [104, 153],
  TrackStartError: [104, 153],
  AbortError: [104, 153],
  OverconstrainedError: [2005, 2006],
  ConstraintNotSatisfiedError: [2005, 2006],
  TypeError: [2007, 2008]
};
function mediaErrorCode(err, kind) {
  const pair = BY_NAME[err && err.name] || [2001, 2002];
  return kind === "audio" ? pair[0] : pair[1];
}
function trackLostCode(kind) {
  if (kind === "video") return 2009;
  if (kind === "audiooutput") return 2010;
  return 2011;
}
function autoplayCode(kind) {
  return kind === "audio" ? 2101 : 2102;
}
function screenErrorCode(err) {
  if (!err || err.name === "NotSupportedError") return 2509;
  return 2103;
}

// src/board.js
var SHAPE = "SharpsChange";
var SHOW_PAGE_ID = "DocumentFilePage_ShowPage";
var PAGE_COUNT_ID = "WBPageCount";
var SHAPE_CLASSES = Object.freeze(["Pen", "Highlighter", "Line", "Arrow", "Rectangle", "Ellipse", "Text"]);
var SEGMENT_MS = 33;
var LASER_MS = 50;
var MAX_POINTS = 1500;
var UNDO_MAX = 200;
var SHAPE_ID_RE = /^[A-Za-z0-9-]{1,64}$/;
var SHAPE_MSG_RE = /^([A-Za-z0-9-]{1,64})###_(SharpsChange|SharpsDrawing)_(\d+)_(\d+)$/;
var pageKey = (fileid, page) => `${Number(fileid) || 0}_${Number(page) || 1}`;
var shapeMsgId = (shapeId, key) => `${shapeId}###_${SHAPE}_${key}`;
var round4 = (v) => Math.round(Math.min(1, Math.max(0, Number(v) || 0)) * 1e4) / 1e4;
function newShapeId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
function parseShapeMsgId(id) {
  const m = SHAPE_MSG_RE.exec(String(id || ""));
  return m ? { shapeId: m[1], kind: m[2], key: `${Number(m[3])}_${Number(m[4])}` } : null;
}
function expandBoard(board) {
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
        data: { eventType: "shapeSaveEvent", shapeId, className, data }
      });
    }
  }
  return out;
}
var Board = class {
  /** `room`: the TK.Room whose messages carry the board; events go out through it. */
  constructor(room) {
    this.room = room;
    this.pages = /* @__PURE__ */ new Map();
    this.shown = null;
    this.blankPages = 1;
    this.drawing = /* @__PURE__ */ new Map();
    this.history = /* @__PURE__ */ new Map();
  }
  // ---- the model -------------------------------------------------------------------------
  /** Rebuilds everything from the saved messages (join, rejoin, msgList). */
  reset(messages) {
    this.pages = /* @__PURE__ */ new Map();
    this.shown = null;
    this.blankPages = 1;
    this.drawing.clear();
    this.history = /* @__PURE__ */ new Map();
    for (const m of messages) this._applySaved(m);
    const me = this.room.self && this.room.self.id;
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
    if (!page) this.pages.set(shape.key, page = /* @__PURE__ */ new Map());
    page.delete(shape.shapeId);
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
    for (const k of ["color", "width"]) if (inner[k] !== void 0) s.data[k] = inner[k];
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
    return page && page.get(shapeId) || null;
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
    return role === 0 || role === 1 || role === 2 && Boolean(me.properties.candraw);
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
      filetype: String(info.filetype || "")
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
      act.seen = Boolean(this.getShape(act.shape.shapeId, act.shape.key));
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
      return this.room.pubMsg({ name: SHAPE, id: `laser###_${SHAPE}_${l.key}`, toID: "__allExceptSender", save: false, data: { eventType: "laserMarkEvent", data: { x: l.x, y: l.y, visible: l.visible } } }).catch((err) => this.room.dispatchEvent("board-error", { error: err, code: err.code, message: err.message }));
    };
    return send();
  }
  /** Gives or takes a student's right to draw (teacher, assistant). */
  setCanDraw(userId, allowed) {
    return this.room.changeUserProperty(userId, "__all", { candraw: Boolean(allowed) });
  }
};
var Stroke = class {
  constructor(board, className, style, key) {
    this.board = board;
    this.className = className === "Highlighter" ? "Highlighter" : "Pen";
    this.style = { color: style.color || "#000000", width: Number(style.width) || 4e-3 };
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
    if (this.points.length === 2) this.points.push(this.points[0], this.points[1]);
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
};
function normalise(className, data) {
  const d = { ...data };
  if (d.color !== void 0 && !/^#[0-9a-fA-F]{6}$/.test(String(d.color))) throw new TKError(103, "color is #rrggbb");
  if (className === "Pen" || className === "Highlighter") d.points = (d.points || []).map(round4);
  else if (className === "Text") {
    d.x = round4(d.x);
    d.y = round4(d.y);
    d.text = String(d.text || "");
  } else for (const k of ["x1", "y1", "x2", "y2"]) d[k] = round4(d[k]);
  return d;
}

// src/tools.js
var QUESTION = "Question";
var ANSWER = "AnswerCommit";
var COUNT = "AnswerCount";
var RESULT = "PublishResult";
var BUZZER = "qiangDaQi";
var PRESS = "QiangDaZhe";
var TIMER = "timer";
var DIAL = "dial";
var GIFT = "sendgift";
var QID_RE = /^[A-Za-z0-9_-]{1,32}$/;
var TICK_MS = 250;
function newQid() {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return `q${Date.now().toString(36)}${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
var qidOf = (id, prefix) => typeof id === "string" && id.startsWith(prefix) ? id.slice(prefix.length) : null;
var Tools = class {
  /** `room`: the TK.Room whose messages carry the tools; events go out through it. */
  constructor(room) {
    this.room = room;
    this.offset = 0;
    this.cards = /* @__PURE__ */ new Map();
    this.mine = /* @__PURE__ */ new Map();
    this._asked = /* @__PURE__ */ new Map();
    this.buzzer = null;
    this.winner = null;
    this.timerMsg = null;
    this.dialMsg = null;
    this._tick = null;
    this._endedSeen = false;
    this.timer = Object.freeze({
      start: (seconds) => this.timerStart(seconds),
      pause: () => this.timerPause(),
      resume: () => this.timerResume(),
      reset: () => this.timerReset(),
      remove: () => this.timerRemove(),
      state: () => this.timerState(),
      remaining: () => this.remaining()
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
    this.cards = /* @__PURE__ */ new Map();
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
        seq: m.seq || old && old.seq || 0,
        counts: old && old.counts || null,
        answered: old && old.answered || 0,
        result: old && old.result || null,
        right: Array.isArray(d.right) ? d.right : old && old.right || this._asked.get(qid) || null,
        version: old && old.version || 0,
        fromID: m.fromID
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
      if (typeof d.version === "number" && d.version < card.version) return null;
      if (typeof d.version === "number") card.version = d.version;
      card.counts = d.counts;
      card.answered = Number(d.answered) || 0;
      if (Array.isArray(d.right)) card.right = d.right;
      return "count";
    }
    if (name === BUZZER || m.id === BUZZER) {
      this.buzzer = m;
      this.winner = null;
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
    return typeof q.asked_at === "number" && Number(q.limit_s) > 0 ? q.asked_at + Number(q.limit_s) * 1e3 : null;
  }
  _isOpen(c) {
    if (c.result) return false;
    for (const o of this.cards.values()) if (o !== c && o.seq > c.seq) return false;
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
    const d = this.timerMsg && this.timerMsg.data || null;
    if (!d || typeof d.state !== "string") return { state: "none", duration_ms: 0, remaining_ms: 0 };
    const duration = Number(d.duration_ms) || 0;
    let remaining = Math.max(0, Number(d.remaining_ms) || 0);
    let state = d.state;
    if (state === "running") {
      remaining = Math.max(0, remaining - (this.now() - (Number(d.since_ms) || 0)));
      if (remaining === 0) state = "ended";
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
    return u && u.properties && Number(u.properties.giftnumber) || 0;
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
};

// src/media.js
var GATHER_TIMEOUT_MS = 3e3;
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", done);
  });
}
function description(obj) {
  const d = obj && (obj.answer || obj.offer || obj.jsep || obj.sdp || obj.msg);
  if (!d) return null;
  return typeof d === "string" ? null : { type: d.type, sdp: d.sdp };
}
var SIMULCAST_ENCODINGS = [
  { rid: "h", active: true, maxBitrate: 12e5 },
  { rid: "m", active: true, maxBitrate: 45e4, scaleResolutionDownBy: 2 },
  { rid: "l", active: true, maxBitrate: 15e4, scaleResolutionDownBy: 4 }
];
var LAYERS = ["low", "medium", "high"];
function passiveAnswer(offerSdp, answer) {
  if (!/a=setup:actpass/.test(offerSdp)) return answer;
  return { type: answer.type, sdp: answer.sdp.replace(/a=setup:active/g, "a=setup:passive") };
}
function newPeerConnection(iceServers) {
  return new RTCPeerConnection({ iceServers: iceServers || [] });
}
async function acquireTrack(kind, constraints) {
  const md = typeof navigator !== "undefined" ? navigator.mediaDevices : void 0;
  if (!md || typeof md.getUserMedia !== "function") {
    throw new TKError(mediaErrorCode(new TypeError("mediaDevices unavailable"), kind), void 0, {
      kind,
      browserError: "TypeError"
    });
  }
  try {
    const stream = await md.getUserMedia({ [kind]: constraints === void 0 ? true : constraints });
    const track = kind === "audio" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    if (!track) throw new DOMException("no track", "NotFoundError");
    return track;
  } catch (err) {
    const code = mediaErrorCode(err, kind);
    throw new TKError(code, void 0, { kind, browserError: err && err.name, detail: err && err.message });
  }
}
var Publisher = class {
  /**
   * @param {import("./connection.js").Connection} conn
   * @param {{simulcast?: boolean}} options simulcast: send a camera as three layers
   */
  constructor(conn, stream, type, iceServers, options = {}) {
    this.conn = conn;
    this.stream = stream;
    this.type = type;
    this.simulcast = Boolean(options.simulcast) && type === "video";
    this.pc = newPeerConnection(iceServers);
    this.streamId = null;
    this.onfailed = null;
    this.pc.addEventListener("connectionstatechange", () => {
      if (this.pc.connectionState === "failed" && this.onfailed) this.onfailed(this);
    });
  }
  async start() {
    for (const track of this.stream.getTracks()) {
      const init = { direction: "sendonly", streams: [this.stream] };
      if (track.kind === "video" && this.simulcast) init.sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
      const transceiver = this.pc.addTransceiver(track, init);
      if (track.kind === "video" && this.type === "screen") await keepResolution(transceiver.sender);
    }
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await gathered(this.pc);
    const local = this.pc.localDescription;
    const ack = await this.conn.request("publish", {
      type: this.type,
      deviceId: "default",
      jsep: { type: local.type, sdp: local.sdp }
    });
    this.streamId = ack.streamId || null;
    this.publicationId = ack.publicationId || null;
    const answer = description(ack);
    if (!answer) throw new TKError(2526, "The server answered publish without an SDP answer");
    await this.pc.setRemoteDescription(answer);
    return this;
  }
  /** The layers the browser is sending now (rid, width, fps), from getStats: diagnostics. */
  async layers() {
    const out = [];
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        out.push({ rid: s.rid || null, width: s.frameWidth || 0, height: s.frameHeight || 0, fps: s.framesPerSecond || 0, active: s.active !== false });
      }
    });
    return out;
  }
  /** A trickled candidate or a renegotiation from the media server. */
  async onServerMessage(msg) {
    if (msg && msg.candidate) await this.pc.addIceCandidate(msg).catch(() => {
    });
  }
  async stop(tellServer = true) {
    this.onfailed = null;
    if (tellServer && this.streamId && this.conn.connected) {
      const req = { streamId: this.streamId };
      if (this.publicationId) req.publicationId = this.publicationId;
      await this.conn.request("unpublish", req).catch(() => {
      });
    }
    this.pc.close();
  }
};
async function keepResolution(sender) {
  if (sender.track) sender.track.contentHint = "detail";
  try {
    const params = sender.getParameters();
    params.degradationPreference = "maintain-resolution";
    await sender.setParameters(params);
  } catch (err) {
  }
}
var Subscriber = class {
  /** @param {{dtlsPassive?: boolean}} options dtlsPassive false: keep the browser's own DTLS role */
  constructor(conn, info, iceServers, options = {}) {
    this.conn = conn;
    this.dtlsPassive = options.dtlsPassive !== false;
    this.info = info;
    this.subscriptionId = null;
    this.layer = null;
    this.pc = newPeerConnection(iceServers);
    this.stream = new MediaStream();
    this.onfailed = null;
    this.pc.addEventListener("track", (ev) => this.stream.addTrack(ev.track));
    this.pc.addEventListener("connectionstatechange", () => {
      if (this.pc.connectionState === "failed" && this.onfailed) this.onfailed(this);
    });
  }
  get streamId() {
    return this.info.streamId;
  }
  /** @param {string} [layer] "high" | "medium" | "low": the simulcast layer to start with */
  async start(layer) {
    const req = { streamId: this.streamId };
    if (layer) req.layer = layer;
    const ack = await this.conn.request("subscribe", req);
    this.subscriptionId = ack.subscriptionId || null;
    this.layer = ack.layer || null;
    const offer = description(ack);
    if (!offer) throw new TKError(2528, "The server answered subscribe without an SDP offer");
    await this.pc.setRemoteDescription(offer);
    const made = await this.pc.createAnswer();
    const answer = this.dtlsPassive ? passiveAnswer(offer.sdp, made) : made;
    await this.pc.setLocalDescription(answer);
    await gathered(this.pc);
    const local = this.pc.localDescription;
    await this.conn.request("signaling_message", {
      subscriptionId: this.subscriptionId,
      streamId: this.streamId,
      jsep: { type: local.type, sdp: local.sdp }
    });
    return this;
  }
  async onServerMessage(msg) {
    if (msg && msg.candidate) await this.pc.addIceCandidate(msg).catch(() => {
    });
  }
  /** Decoded-frame and audio counters, from getStats. */
  async stats() {
    const out = { framesDecoded: 0, frameWidth: 0, frameHeight: 0, framesPerSecond: 0, audioEnergy: 0, audioSamples: 0, bytesReceived: 0, layer: this.layer };
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      out.bytesReceived += s.bytesReceived || 0;
      if (s.kind === "video") {
        out.framesDecoded += s.framesDecoded || 0;
        out.frameWidth = Math.max(out.frameWidth, s.frameWidth || 0);
        out.frameHeight = Math.max(out.frameHeight, s.frameHeight || 0);
        out.framesPerSecond = Math.max(out.framesPerSecond, s.framesPerSecond || 0);
      } else if (s.kind === "audio") {
        out.audioEnergy += s.totalAudioEnergy || 0;
        out.audioSamples += s.totalSamplesReceived || 0;
      }
    });
    return out;
  }
  async stop(tellServer = true) {
    this.onfailed = null;
    if (tellServer && this.subscriptionId && this.conn.connected) {
      await this.conn.request("unsubscribe", { subscriptionId: this.subscriptionId }).catch(() => {
      });
    }
    this.pc.close();
  }
};

// src/connection.js
var REQUEST_TIMEOUT_MS = 15e3;
var FAILOVER_ATTEMPTS = 30;
function failoverUrls(current, others) {
  const out = [current];
  for (const u of others || []) if (typeof u === "string" && u && !out.includes(u)) out.push(u);
  return out;
}
var Connection = class {
  /**
   * @param {string} url signal URL from getconfig
   * @param {(ev: string, data: object, s: number|undefined) => void} onEvent
   * @param {{onDrop: Function, onResumed: Function, onLost: Function, maxAttempts: number,
   *   urls?: string[], failoverAttempts?: number}} hooks urls: the other nodes' signal URLs
   */
  constructor(url, onEvent, hooks) {
    this.url = url;
    this.urls = failoverUrls(url, hooks.urls);
    this.unanswered = 0;
    this.sessionUrl = url;
    this.onEvent = onEvent;
    this.hooks = hooks;
    this.ws = null;
    this.nextId = 1;
    this.pending = /* @__PURE__ */ new Map();
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
        reject(new TKError(2510, `The server did not answer ${ev} in ${timeoutMs / 1e3} s`));
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
      if (frame.s <= this.last) return;
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
        new TKError(2600, `Room link failed: no signalling server answered in ${this.unanswered} attempts (tried ${this.urls.join(", ")})`)
      );
      return;
    }
    this.attempt += 1;
    const delay = Math.min(250 * 2 ** (this.attempt - 1), 4e3);
    this.hooks.onReconnecting(this.attempt);
    this._reconnectTimer = setTimeout(() => this._resume(), delay);
  }
  async _resume() {
    if (this.closedByUs) return;
    this.url = this.urls[(this.attempt - 1) % this.urls.length];
    try {
      await this.open();
    } catch {
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
        last: this.last
      });
      this.attempt = 0;
      const moved = this.url !== this.sessionUrl;
      this.sessionUrl = this.url;
      this.hooks.onResumed(ack, sentAt, Date.now(), { url: this.url, moved });
    } catch (err) {
      if (err.code === 102) {
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
};

// src/emitter.js
var Emitter = class {
  constructor() {
    this._listeners = /* @__PURE__ */ new Map();
  }
  addEventListener(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, /* @__PURE__ */ new Set());
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
};

// src/http.js
function baseUrl(host, port) {
  if (!host) return "";
  const proto = typeof location !== "undefined" && location.protocol === "https:" ? "https:" : "http:";
  return port ? `${proto}//${host}:${port}` : `${proto}//${host}`;
}
function clientApi(base, method, fields) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    if (v === void 0 || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => body.append(`${k}[]`, String(x)));
    else body.append(k, String(v));
  }
  return post(base, method, body);
}
function clientApiForm(base, method, fields) {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (v === void 0 || v === null) continue;
    if (typeof Blob !== "undefined" && v instanceof Blob) body.append(k, v, v.name || "file");
    else body.append(k, String(v));
  }
  return post(base, method, body);
}
async function post(base, method, body) {
  let res;
  try {
    res = await fetch(`${base}/ClientAPI/${method}?ts=${Date.now()}`, { method: "POST", body });
  } catch (err) {
    throw new TKError(111, `The web interface request failed: ${err.message}`);
  }
  let json;
  try {
    json = await res.json();
  } catch {
    throw new TKError(111, `The web interface request failed: HTTP ${res.status}`);
  }
  if (json.result !== 0) throw new TKError(json.result, json.msg || json.message, { response: json });
  return json;
}
function signalUrl(base, config) {
  let url = config.signal && config.signal.url || config.signalurl || "/signal";
  if (/^wss?:\/\//.test(url)) return url;
  const origin = base || (typeof location !== "undefined" ? location.origin : "http://127.0.0.1");
  const u = new URL(url, origin);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}
function signalUrls(base, config) {
  const urls = config.signal && Array.isArray(config.signal.urls) && config.signal.urls || [];
  return urls.filter((u) => typeof u === "string" && u).map((u) => signalUrl(base, { signal: { url: u } }));
}

// src/room.js
var NOTICE_NS = { error: "error_notice", warn: "warning_notice", info: "info_notice" };
var ROOM_ROLE = Object.freeze({
  TEACHER: 0,
  ASSISTANT: 1,
  STUDENT: 2,
  AUDIT: 3,
  PATROL: 4,
  PLAYBACK: -1
});
var PUBLISH_STATE = Object.freeze({ NONE: 0, AUDIOONLY: 1, VIDEOONLY: 2, BOTH: 3, MUTEALL: 4 });
var MSG_TO_ALLUSER = "__all";
var MSG_TO_ALLEXCEPTSENDER = "__allExceptSender";
var MSG_TO_ALLEXCEPTAUDITOR = "__allExceptAuditor";
var MSG_TO_NONEUSER = "__none";
var MSG_TO_ALLSUPERUSERS = "__allSuperUsers";
var wantsAudio = (s) => s === 1 || s === 3;
var wantsVideo = (s) => s === 2 || s === 3;
function deviceType() {
  const ua = typeof navigator !== "undefined" ? navigator.userAgent || "" : "";
  return /Mobi|Android|iPhone|iPad/i.test(ua) ? 4 : 5;
}
function callbacks(promise, onOk, onFail) {
  if (typeof onOk === "function" || typeof onFail === "function") {
    promise.then(
      (v) => onOk && onOk(v),
      (e) => onFail && onFail(e)
    );
  }
  return promise;
}
var Room = class extends Emitter {
  constructor() {
    super();
    this.initialized = false;
    this.options = { autoSubscribeAV: true, maxReconnectCount: 0, iceServers: [], simulcast: true, dtlsPassive: true };
    this.conn = null;
    this.self = null;
    this.users = /* @__PURE__ */ new Map();
    this.msgs = /* @__PURE__ */ new Map();
    this.roomProps = {};
    this.mode = "normalRoom";
    this.remote = /* @__PURE__ */ new Map();
    this.subs = /* @__PURE__ */ new Map();
    this.pubs = /* @__PURE__ */ new Map();
    this.localTracks = { audio: null, video: null };
    this.screenStream = null;
    this.players = /* @__PURE__ */ new Map();
    this.pendingPlay = /* @__PURE__ */ new Set();
    this.videoProfile = null;
    this.deviceIds = { audio: null, video: null };
    this.deviceState = { audio: 0, video: 0 };
    this.failCounts = /* @__PURE__ */ new Map();
    this.layerPrefs = /* @__PURE__ */ new Map();
    this._roomSimulcast = Promise.resolve(false);
    this._join = null;
    this._mediaQueue = Promise.resolve();
    this.board = new Board(this);
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
        clientType: 1
      });
    } catch (err) {
      this.dispatchEvent("room-connect-fail", { source: 3, error: err.code, code: err.code, message: err.message });
      throw err;
    }
    this.ticket = check.ticket;
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
    this.signalUrl = url;
    const options = this.options;
    const conn = new Connection(url, (ev, data) => this._onEvent(ev, data), {
      maxAttempts: this.options.maxReconnectCount,
      // a cluster: the nodes getconfig lists (and init's signalUrls) when ours goes away
      urls: [...signalUrls(base, config), ...this.options.signalUrls || []],
      get failoverAttempts() {
        return options.failoverAttempts;
      },
      onDrop: () => this.dispatchEvent("room-disconnected", { willReconnect: true }),
      onReconnecting: (n) => this.dispatchEvent("room-reconnecting", { number: n }),
      onResumed: (ack2, sentAt2, receivedAt, where) => this._onResumed(ack2, sentAt2, receivedAt, where),
      onExpired: () => this._rejoin(),
      onLost: (err) => this._onLost(err)
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
    this.users = /* @__PURE__ */ new Map();
    for (const u of ack.userlist || []) this.users.set(u.id, u);
    this.users.set(this.self.id, this.self);
    this._setSaved(ack.msglist, ack.board);
  }
  /** The saved messages: the list plus the join answer's compact board expanded back (docs/board.md). */
  _setSaved(msglist, board) {
    this.msgs = /* @__PURE__ */ new Map();
    const all = [...msglist || [], ...expandBoard(board)].sort((a, b) => (a.seq || 0) - (b.seq || 0));
    for (const m of all) this.msgs.set(m.id, m);
    this.board.reset(all);
    this.tools.reset(all);
  }
  async _rejoin() {
    if (this.self) this._join.userId = this.self.id;
    this._dropAllMedia(false);
    this.remote.clear();
    for (let attempt = 1; ; attempt++) {
      try {
        await this._doJoin(true);
        return;
      } catch (err) {
        const max = this.options.maxReconnectCount || this.options.failoverAttempts || FAILOVER_ATTEMPTS;
        if (attempt >= max || err.code && err.code < 2500 && err.code !== 111) {
          this._onLost(err);
          return;
        }
        this.dispatchEvent("room-reconnecting", { number: attempt });
        await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 4e3)));
      }
    }
  }
  _onResumed(ack, sentAt, receivedAt, where = {}) {
    if (ack) this.tools.setServerTime(ack.serverTime, sentAt, receivedAt);
    this.signalUrl = where.url || this.signalUrl;
    this.dispatchEvent("room-reconnected", { rejoined: false, moved: !!where.moved, url: this.signalUrl });
    if (where.moved) {
      this._mediaMoved();
      return;
    }
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
      if (this.conn && this.conn.connected) await this.conn.request("leaveRoom", {}).catch(() => {
      });
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
      onFail
    );
  }
  // ---- messages and properties -------------------------------------------------------------
  sendMessage(message, toID = MSG_TO_ALLUSER, extension) {
    const body = extension ? { msg: message, ...extension } : message;
    return this._req("sendMessage", { toID, message: body });
  }
  /** pubMsg({name, id, toID, data, save, associatedMsgID, associatedUserID, expires}) or positional. */
  pubMsg(nameOrMsg, id, toID, data, save, expires, associatedMsgID, associatedUserID) {
    const msg = typeof nameOrMsg === "object" && nameOrMsg !== null ? { ...nameOrMsg } : { name: nameOrMsg, id, toID, data, save, expires, associatedMsgID, associatedUserID };
    msg.toID = msg.toID || MSG_TO_ALLUSER;
    msg.id = msg.id || msg.name;
    msg.data = msg.data === void 0 ? {} : msg.data;
    msg.save = Boolean(msg.save);
    for (const k of Object.keys(msg)) if (msg[k] === void 0) delete msg[k];
    return this._req("pubMsg", msg);
  }
  delMsg(nameOrMsg, id, toID, data) {
    const msg = typeof nameOrMsg === "object" && nameOrMsg !== null ? { ...nameOrMsg } : { name: nameOrMsg, id, toID, data };
    msg.toID = msg.toID || MSG_TO_ALLUSER;
    msg.id = msg.id || msg.name;
    if (msg.data === void 0) delete msg.data;
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
    return this._req("evictParticipant", reason === void 0 ? { id } : { id, reason });
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
      ...begun && begun.data || {},
      recordtype: String(opts.recordType ?? opts.recordtype ?? "0"),
      convert: opts.convert ?? 0,
      layout: opts.layout ?? 0,
      record: true
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
      const data = { ...begun.data || {} };
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
      filedata: file
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
    return this.self && this.self.properties && this.self.properties.publishstate || 0;
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
    const md = typeof navigator !== "undefined" ? navigator.mediaDevices : void 0;
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
      if (!track || deviceId && track.getSettings().deviceId === deviceId) return;
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
    this.changeUserProperty(this.self.id, MSG_TO_ALLUSER, { devicestate: { ...this.deviceState } }).catch(() => {
    });
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
      video: may && wantsVideo(state) && !this.isOnlyAudioRoom()
    };
    for (const kind of ["audio", "video"]) {
      if (!want[kind]) {
        const pub2 = this.pubs.get(kind);
        this.pubs.delete(kind);
        if (pub2) await pub2.stop(true);
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
          const simulcast = kind === "video" && this.options.simulcast !== false && await this._roomSimulcast;
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
      c.width = { ideal: Math.max(960, p && p.width || 0) };
      c.height = { ideal: Math.max(720, p && p.height || 0) };
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
    const simulcast = type === "video" && this.options.simulcast !== false && await this._roomSimulcast;
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
      const justMoved = code === 2601 && this._movedAt && Date.now() - this._movedAt < 9e4;
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
        this._notice("error", 134, void 0);
        this._notice("warn", key === "pub:audio" ? 1014 : 1013, void 0);
        if (this.self && key !== "pub:screen") {
          const s = this._myState();
          const next = key === "pub:audio" ? wantsVideo(s) ? 2 : 0 : wantsAudio(s) ? 1 : 0;
          this._setMyState(next).catch(() => {
          });
        }
      }
      return;
    }
    setTimeout(fn, Math.min(500 * n, 5e3));
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
    this._notice("warn", kind === "video" ? 1015 : 1016, void 0, { kind });
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
      const err = new TKError(code, void 0, { browserError: e && e.name });
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
    video.muted = true;
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
        height: video.videoHeight
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
      document.addEventListener("click", () => this.resumePlayback(), { once: true, capture: true });
    });
  }
  /** Retries every play() the autoplay policy refused; call it from a user gesture. */
  resumePlayback() {
    const waiting = [...this.pendingPlay];
    this.pendingPlay.clear();
    return Promise.all(
      waiting.map(
        (el) => el.play().catch((err) => {
          if (err && err.name === "NotAllowedError") this.pendingPlay.add(el);
        })
      )
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
      if (sub.info.userId === userId && sub.info.type === type) this.setVideoLayer(sub.streamId, layer).catch(() => {
      });
    }
  }
  _layerFor(entry) {
    if (!entry.simulcast) return void 0;
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
    if (entry && info.publicationId && entry.publicationId && entry.publicationId !== info.publicationId) return;
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
};
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
      ts: data.ts
    });
  },
  pubMsg(data) {
    if (data.save) this.msgs.set(data.id, data);
    if (data.name === "SharpsChange" && data.data && data.data.eventType === "clearEvent") {
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
      if (this.localTracks.video) this._notice("warn", 1011, void 0);
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
      if (wantsVideo(this._myState())) this._notice("warn", 1012, void 0);
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
    const known = this.users.has(user.id);
    this.users.set(user.id, user);
    if (!known) this.dispatchEvent("room-participant_join", { user, published: true });
    this.dispatchEvent("room-userproperty-changed", { user, message: { publishstate: user.properties.publishstate }, fromID: null });
  },
  mediaServerChanged(data) {
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
    const sub = [...this.subs.values()].find((x) => x.subscriptionId === data.subscriptionId);
    if (!sub) return;
    sub.layer = data.layer;
    this.dispatchEvent("room-video-layer-changed", {
      userId: sub.info.userId,
      streamId: sub.streamId,
      type: sub.info.type,
      layer: data.layer,
      preferred: data.preferred,
      reason: data.reason
    });
  },
  onRemoveStream(data) {
    this._onRemoveStream(data);
  },
  signaling_message_mediaserver(data) {
    const id = data.subscriptionId || data.streamId;
    const target = [...this.subs.values()].find((x) => x.subscriptionId === id || x.streamId === id) || [...this.pubs.values()].find((p) => p.streamId === id);
    if (target) target.onServerMessage(data.candidate || data.msg);
  }
};

// src/index.js
var VERSION = "0.1.0";
var TK = Object.freeze({
  VERSION,
  /** The original's factory: TK.Room() (calling it with `new` works too). */
  Room: function RoomFactory() {
    return new Room();
  },
  RoomClass: Room,
  TKError,
  TK_ERR,
  ERROR_NOTICE,
  INFO_NOTICE,
  WARNING_NOTICE,
  MESSAGES,
  DESCRIPTIONS,
  WEBAPI,
  ROOM_ROLE,
  PUBLISH_STATE,
  MSG_TO_ALLUSER,
  MSG_TO_ALLEXCEPTSENDER,
  MSG_TO_ALLEXCEPTAUDITOR,
  MSG_TO_NONEUSER,
  MSG_TO_ALLSUPERUSERS,
  mediaErrorCode,
  /** The board's helpers: page keys "<fileid>_<page>", shape classes, random shape ids (docs/board.md). */
  board: Object.freeze({ pageKey, SHAPE_CLASSES, newShapeId }),
  /** The tools' helpers: a fresh answer-card id (docs/tools.md). */
  tools: Object.freeze({ newQid }),
  /** Opens one device ("audio" | "video") as the SDK does before publishing: a device check. */
  getLocalTrack: acquireTrack
});
var index_default = TK;
export {
  ERROR_NOTICE,
  INFO_NOTICE,
  MESSAGES,
  Room,
  TK,
  TKError,
  TK_ERR,
  VERSION,
  WARNING_NOTICE,
  index_default as default,
  acquireTrack as getLocalTrack,
  mediaErrorCode
};
