// The SDK's failures: TKError, and the mapping from the browser's media errors to the
// specification's codes (the codes themselves are generated into codes.js).

import { MESSAGES } from "./codes.js";

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
