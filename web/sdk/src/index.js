// tkroom.js: the browser SDK of tkroom. `import TK from "/sdk/tkroom.js"; const room = TK.Room();`

import { SHAPE_CLASSES, newShapeId, pageKey } from "./board.js";
import { DESCRIPTIONS, ERROR_NOTICE, INFO_NOTICE, MESSAGES, TK_ERR, WARNING_NOTICE, WEBAPI } from "./codes.js";
import { TKError, mediaErrorCode } from "./errors.js";
import { newQid } from "./tools.js";
import { acquireTrack } from "./media.js";
import {
  MSG_TO_ALLEXCEPTAUDITOR,
  MSG_TO_ALLEXCEPTSENDER,
  MSG_TO_ALLSUPERUSERS,
  MSG_TO_ALLUSER,
  MSG_TO_NONEUSER,
  PUBLISH_STATE,
  ROOM_ROLE,
  Room,
} from "./room.js";

export const VERSION = "0.1.0";

export const TK = Object.freeze({
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
  getLocalTrack: acquireTrack,
});

export { Room, acquireTrack as getLocalTrack, TKError, TK_ERR, ERROR_NOTICE, INFO_NOTICE, WARNING_NOTICE, MESSAGES, mediaErrorCode };
export default TK;
