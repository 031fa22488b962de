// Status codes of the TKRoomSDK specification that the browser SDK itself produces, and the
// mapping from the browser's media errors to them. Numbers and texts follow the seed table
// (tkroom codes N prints the same), so a page can show "code + message" without the server.

export const TK_ERR = Object.freeze({
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
  PUBLISH_LIMIT: 2601,
  MAX_ATTEMPTS: 2602,
});

export const ERROR_NOTICE = Object.freeze({
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
  ERR_JOINGROUP_FAILED: 156,
});

export const INFO_NOTICE = Object.freeze({
  INFO_PUBLISH_COMPLETED: 2001,
  INFO_SUBSCRIBE_COMPLETED: 2002,
});

export const WARNING_NOTICE = Object.freeze({
  WAR_UNPUBLISHVIDEO_BY_SWITCHAUDIOROOM: 1011,
  WAR_PUBLISHVIDEO_BY_SWITCHAUDIOVIDEOROOM: 1012,
  WAR_UNPUBLISHVIDEO_BY_MAX_RECONNECT_COUNT: 1013,
  WAR_UNPUBLISHAUDIO_BY_MAX_RECONNECT_COUNT: 1014,
  WAR_UNPUBLISHVIDEO_BY_GET_DEVICE_MEDIASTREAM_FAILURE: 1015,
  WAR_UNPUBLISHAUDIO_BY_GET_DEVICE_MEDIASTREAM_FAILURE: 1016,
});

// The seed's descriptions of the codes the SDK raises on its own.
export const MESSAGES = Object.freeze({
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
  2602: "Exceeded the maximum allowed number of times",
});

/** An SDK failure: `code` from the specification, `message` readable. */
export class TKError extends Error {
  constructor(code, message, extra = {}) {
    super(message || MESSAGES[code] || `status ${code}`);
    this.name = "TKError";
    this.code = code;
    Object.assign(this, extra);
  }
}

const BY_NAME = {
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
  TypeError: [2007, 2008],
};

/**
 * The code for a getUserMedia failure. `kind` is "audio" or "video": the seed has one code
 * for each (101 microphone / 151 camera, ...). When both were asked for, the caller reports
 * the video code when the constraint names video, as Chromium does not say which device failed.
 */
export function mediaErrorCode(err, kind) {
  const pair = BY_NAME[err && err.name] || [2001, 2002];
  return kind === "audio" ? pair[0] : pair[1];
}

/** The code when a track or device ends while in use (unplugged, revoked, taken away). */
export function trackLostCode(kind) {
  if (kind === "video") return 2009;
  if (kind === "audiooutput") return 2010;
  return 2011;
}

/** The code when the autoplay policy refuses play(). */
export function autoplayCode(kind) {
  return kind === "audio" ? 2101 : 2102;
}

/** The code for a getDisplayMedia failure: refused → 2103, not supported → 2509. */
export function screenErrorCode(err) {
  if (!err || err.name === "NotSupportedError") return 2509;
  return 2103;
}
