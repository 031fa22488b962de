"""Every status code of the TKRoomSDK specification, in one registry.

The rows mirror ``shared/seeds/status_codes.tsv`` one for one; a test checks them row by row.
The seed gives names only for the SDK and notice codes; the Web API codes and the unnamed SDK
codes get constant names chosen here. Numbers repeat across namespaces (101 is both "no
recording device" in the SDK and "not initialized" as an error notice), so every lookup is
either namespaced or returns all matches.
"""

from __future__ import annotations

import enum
import json
import sys
from dataclasses import dataclass
from typing import Any

NAMESPACES = ("webapi", "sdk", "error_notice", "info_notice", "warning_notice")


@dataclass(frozen=True, slots=True)
class Code:
    """One row of the specification."""

    namespace: str
    name: str
    code: int
    description: str
    seed_name: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "namespace": self.namespace,
            "name": self.seed_name or self.name,
            "code": self.code,
            "description": self.description,
        }


CODES: tuple[Code, ...] = (
    Code('webapi', 'SERVER_EXPIRED', 3001, 'Server Expired', ''),
    Code('webapi', 'COMPANY_FROZEN', 3002, 'The company has been frozen', ''),
    Code('webapi', 'ROOM_DELETED_OR_EXPIRED', 3003, 'The room has been deleted or expired', ''),
    Code('webapi', 'COMPANY_NOT_EXIST', 4001, 'The company does not exist', ''),
    Code('webapi', 'ACCOUNT_OR_PASSWORD_INCORRECT', 4002, 'The username or password is incorrect', ''),
    Code('webapi', 'ROOM_NAME_EMPTY', 4003, 'The room name is not allowed to be empty', ''),
    Code('webapi', 'TIME_FORMAT_INCORRECT', 4004, 'The time format is incorrect', ''),
    Code('webapi', 'TIME_SETTING_INCORRECT', 4005, 'The time setting is incorrect', ''),
    Code('webapi', 'CHAIRMAN_PWD_FORMAT_INCORRECT', 4006, "The teacher's password format is incorrect", ''),
    Code('webapi', 'ROOM_NOT_EXIST', 4007, 'The room does not exist, the room is invalid or has been deleted, or the room has expired', ''),
    Code('webapi', 'ROOM_PASSWORD_INCORRECT', 4008, 'The room password is incorrect', ''),
    Code('webapi', 'STUDENT_PWD_FORMAT_INCORRECT', 4009, 'The password format for the student user is incorrect', ''),
    Code('webapi', 'PASSWORD_FORMAT_INCORRECT', 4010, 'The password format is incorrect', ''),
    Code('webapi', 'ROOM_TYPE_REQUIRED', 4011, 'The room type is required', ''),
    Code('webapi', 'COMPANY_ID_REQUIRED', 4101, 'Enterprise ID verification is required', ''),
    Code('webapi', 'COMPANY_ID_MISMATCH', 4102, 'Error in verifying the Enterprise ID', ''),
    Code('webapi', 'ROOM_QUOTA_EXCEEDED', 4103, 'The number of rooms exceeds the maximum limit', ''),
    Code('webapi', 'NO_MATCHING_DATA', 4105, 'No data matches the criteria', ''),
    Code('webapi', 'ROOM_FILE_LIMIT_EXCEEDED', 4106, 'The number of room files exceeds the quantity limit', ''),
    Code('webapi', 'DATABASE_ERROR', 4107, 'Database operation error', ''),
    Code('webapi', 'NO_PERMISSION', 4108, 'No permission', ''),
    Code('webapi', 'AUTH_INCORRECT', 4109, 'Auth is not correct', ''),
    Code('webapi', 'ROOM_PASSWORD_REQUIRED', 4110, 'This room requires a password. Please enter the password', ''),
    Code('webapi', 'REGISTERED_USER_REQUIRED', 4111, 'The user is not registered or the password is incorrect. This room requires registered users to participate', ''),
    Code('webapi', 'GROUP_ID_REQUIRED', 4200, 'Group ID is required', ''),
    Code('webapi', 'GROUP_NAME_REQUIRED', 4201, 'Group name is required', ''),
    Code('webapi', 'FILE_ID_REQUIRED', 4202, 'File ID is required', ''),
    Code('webapi', 'ACCOUNT_AND_PASSWORD_REQUIRED', 5000, 'Username and password are required', ''),
    Code('webapi', 'PASSWORDREQUIRED_REQUIRED', 5001, 'Whether the room has a password is required', ''),
    Code('webapi', 'CHAIRMAN_PWD_REQUIRED', 5002, 'Chairman password is required', ''),
    Code('webapi', 'STUDENT_PWD_REQUIRED', 5003, "The room's general password is required", ''),
    Code('webapi', 'START_END_TIME_REQUIRED', 5004, 'Start time and end time are required', ''),
    Code('webapi', 'SIDELINE_PWD_REQUIRED', 5005, 'If allowing eavesdropping users, a password should be provided', ''),
    Code('webapi', 'PARTICIPANT_PWD_FORMAT_INCORRECT', 5006, 'The password format for the room participants is incorrect', ''),
    Code('webapi', 'SIDELINE_PWD_INCORRECT', 5007, 'The password for the eavesdropping user is incorrect', ''),
    Code('webapi', 'MAXUSERS_FORMAT_INCORRECT', 5008, 'The format of the maximum number of users is incorrect', ''),
    Code('webapi', 'MAXUSERS_OUT_OF_RANGE', 5009, 'The maximum number of users exceeds the limit', ''),
    Code('webapi', 'MAXSIDELINEUSERS_FORMAT_INCORRECT', 5010, 'The maximum number of eavesdropping users is incorrect', ''),
    Code('webapi', 'MAXSIDELINEUSERS_OUT_OF_RANGE', 5011, 'The maximum number of eavesdropping users exceeds the limit', ''),
    Code('webapi', 'MAXVIDEO_FORMAT_INCORRECT', 5012, 'The format of the maximum number of videos is incorrect', ''),
    Code('webapi', 'MAXVIDEO_OUT_OF_RANGE', 5013, 'The maximum number of videos is incorrect', ''),
    Code('webapi', 'MAXAUDIO_FORMAT_INCORRECT', 5014, 'The format of the maximum number of audio streams is incorrect', ''),
    Code('webapi', 'MAXAUDIO_OUT_OF_RANGE', 5015, 'The maximum number of audio streams is incorrect', ''),
    Code('webapi', 'VIDEOTYPE_FORMAT_INCORRECT', 5016, 'The format of the video resolution parameter is incorrect', ''),
    Code('webapi', 'ROOMLAYOUT_FORMAT_INCORRECT', 5017, 'The format of the layout parameter is incorrect', ''),
    Code('webapi', 'ASSISTANT_PWD_REQUIRED', 5018, 'The assistant password is required', ''),
    Code('webapi', 'PATROL_PWD_REQUIRED', 5019, 'The password for the monitoring course is required', ''),
    Code('webapi', 'VIDEOTYPE_ABOVE_LIMIT', 5020, 'The video resolution is incorrect or exceeds the enterprise limit', ''),
    Code('webapi', 'SERIAL_REQUIRED', 5100, 'Room number is required', ''),
    Code('webapi', 'USER_ACCOUNT_REQUIRED', 5101, 'User account is required', ''),
    Code('webapi', 'ROOM_PASSWORD_REPEATED', 5102, 'The room password cannot be repeated', ''),
    Code('webapi', 'CHAIRMAN_PWD_INCORRECT', 5200, 'The chairman password is incorrect', ''),
    Code('webapi', 'SIDELINE_PWD_WRONG', 5201, 'The eavesdropping password is incorrect', ''),
    Code('webapi', 'STUDENT_PWD_INCORRECT', 5203, 'Student password', ''),
    Code('webapi', 'PASSWORD_MISSING', 5204, 'No password', ''),
    Code('webapi', 'NICKNAME_REQUIRED', 5205, 'Nickname or name is required', ''),
    Code('webapi', 'DATA_WRITE_FAILED', 5206, 'Data write failed', ''),
    Code('webapi', 'USER_TYPE_INVALID', 5207, 'User type: 0 - Lecturer (Teacher), 1 - Assistant, 2 - Student, 3 - Live Streaming User, 4 - Inspector', ''),
    Code('webapi', 'USER_ALREADY_LOGGED_IN', 5208, 'The user has already logged in', ''),
    Code('webapi', 'LOGIN_KEY_REQUIRED', 5300, 'The 40-character login key is required', ''),
    Code('webapi', 'LOGIN_KEY_INCORRECT', 5301, 'The 40-character key is incorrect', ''),
    Code('webapi', 'SERVER_ID_INCORRECT', 6000, 'The server ID is incorrect', ''),
    Code('webapi', 'SERVER_IP_INCORRECT', 6001, 'The IP address is incorrect', ''),
    Code('webapi', 'SERVER_MAXUSERS_OUT_OF_RANGE', 6002, 'The number of regular users exceeds the range', ''),
    Code('webapi', 'SERVER_MAXSIDELINEUSERS_OUT_OF_RANGE', 6003, 'The number of eavesdropping users exceeds the range', ''),
    Code('sdk', 'ERR_ADM_RECORDING_DEVICE_NOT_FOUND', 101, 'No recording device available', 'TK_ERR.ERR_ADM_RECORDING_DEVICE_NOT_FOUND'),
    Code('sdk', 'ERR_ADM_PLAYOUT_DEVICE_NOT_FOUND', 102, 'No playback device available', 'TK_ERR.ERR_ADM_PLAYOUT_DEVICE_NOT_FOUND'),
    Code('sdk', 'ERR_VDM_CAMERA_NOT_FOUND', 151, 'No video device available', 'TK_ERR.ERR_VDM_CAMERA_NOT_FOUND'),
    Code('sdk', 'ERR_ADM_RECORDING_DEVICE_NOT_ALLOWED', 103, 'The recording device is not authorized', 'TK_ERR.ERR_ADM_RECORDING_DEVICE_NOT_ALLOWED'),
    Code('sdk', 'ERR_VDM_CAMERA_NOT_ALLOWED', 152, 'The video device is not authorized', 'TK_ERR.ERR_VDM_CAMERA_NOT_ALLOWED'),
    Code('sdk', 'ERR_ADM_RECORDING_DEVICE_NOT_READABLE', 104, 'The recording device is unavailable, possibly occupied by another application', 'TK_ERR.ERR_ADM_RECORDING_DEVICE_NOT_READABLE'),
    Code('sdk', 'ERR_VDM_CAMERA_NOT_READABLE', 153, 'The video device is unavailable, possibly occupied by another application', 'TK_ERR.ERR_VDM_CAMERA_NOT_READABLE'),
    Code('sdk', 'ERR_ADM_UNKNOWN_ERROR', 2001, 'Unknown audio error', 'TK_ERR.ERR_ADM_UNKNOWN_ERROR'),
    Code('sdk', 'ERR_VDM_UNKNOWN_ERROR', 2002, 'Unknown video error', 'TK_ERR.ERR_VDM_UNKNOWN_ERROR'),
    Code('sdk', 'ERR_ADM_RECORDING_TRACK_NOT_AVAILABLE', 2003, 'The audio track is unavailable', 'TK_ERR.ERR_ADM_RECORDING_TRACK_NOT_AVAILABLE'),
    Code('sdk', 'ERR_VDM_VIDEO_TRACK_NOT_AVAILABLE', 2004, 'The video track is unavailable', 'TK_ERR.ERR_VDM_VIDEO_TRACK_NOT_AVAILABLE'),
    Code('sdk', 'ERR_ADM_RECORDING_OVER_CONSTRAINTS', 2005, 'Audio constraints exception', 'TK_ERR.ERR_ADM_RECORDING_OVER_CONSTRAINTS'),
    Code('sdk', 'ERR_VDM_VIDEO_OVER_CONSTRAINTS', 2006, 'Video constraints exception', 'TK_ERR.ERR_VDM_VIDEO_OVER_CONSTRAINTS'),
    Code('sdk', 'ERR_ADM_TYPE_ERROR', 2007, 'Invalid audio constraints', 'TK_ERR.ERR_ADM_TYPE_ERROR'),
    Code('sdk', 'ERR_VDM_TYPE_ERROR', 2008, 'Invalid video constraints', 'TK_ERR.ERR_VDM_TYPE_ERROR'),
    Code('sdk', 'ERR_ADM_CAMERA_LOST', 2009, 'The camera in use has been removed', 'TK_ERR.ERR_ADM_CAMERA_LOST'),
    Code('sdk', 'ERR_ADM_PLAYOUT_LOST', 2010, 'The speaker in use has been removed', 'TK_ERR.ERR_ADM_PLAYOUT_LOST'),
    Code('sdk', 'ERR_VDM_RECORDING_LOST', 2011, 'The microphone in use has been removed', 'TK_ERR.ERR_VDM_RECORDING_LOST'),
    Code('sdk', 'ERR_ADM_PLAY_MEDIA_NOT_ALLOWED', 2101, 'The lack of human-computer interaction prevents the audio from playing', 'TK_ERR.ERR_ADM_PLAY_MEDIA_NOT_ALLOWED'),
    Code('sdk', 'ERR_VDM_PLAY_MEDIA_NOT_ALLOWED', 2102, 'The lack of human-computer interaction prevents the video from playing', 'TK_ERR.ERR_VDM_PLAY_MEDIA_NOT_ALLOWED'),
    Code('sdk', 'ERR_MSM_SCREEN_SHARE_NOT_ALLOWED', 2103, 'Screen sharing failed', 'TK_ERR.ERR_MSM_SCREEN_SHARE_NOT_ALLOWED'),
    Code('sdk', 'ROOM_NOT_CONNECT', 2508, 'No successful connection to the room error code', 'TK_ERR.ROOM_NOT_CONNECT'),
    Code('sdk', 'CHECK_USERDesktopMediaError', 2509, 'Web sharing plugin not detected', 'TK_ERR.CHECK_USERDesktopMediaError'),
    Code('sdk', 'Server_Exception', 2510, 'Server exception', 'TK_ERR.Server_Exception'),
    Code('sdk', 'ROOM_JOIN_GROUP_FAILED', 2511, 'Failed to join the group', 'TK_ERR.ROOM_JOIN_GROUP_FAILED'),
    Code('sdk', 'PUBLISH_FAILED', 2526, 'Failed to publish', ''),
    Code('sdk', 'UNPUBLISH_FAILED', 2527, 'Failed to cancel the post', ''),
    Code('sdk', 'SUBSCRIBE_FAILED', 2528, 'Subscription failed', ''),
    Code('sdk', 'UNSUBSCRIBE_FAILED', 2529, 'Failed to unsubscribe', ''),
    Code('sdk', 'ROOM_LINK_FAILED', 2600, 'Room link failed', ''),
    Code('sdk', 'PUBLICATIONS_EXCEED_LIMIT', 2601, 'The number of posts exceeds the limit', ''),
    Code('sdk', 'MAX_ATTEMPTS_EXCEEDED', 2602, 'Exceeded the maximum allowed number of times', ''),
    Code('error_notice', 'ERR_OK', 0, 'Success', 'TK.ERROR_NOTICE.ERR_OK'),
    Code('error_notice', 'ERR_CHAT_TEXT_TOO_LONG', 61, 'The length of the text message is greater than or equal to 1024', 'TK.ERROR_NOTICE.ERR_CHAT_TEXT_TOO_LONG'),
    Code('error_notice', 'ERR_CHAT_SPEED_TOO_FAST', 62, 'The interval between sending text messages is less than or equal to 1000 milliseconds', 'TK.ERROR_NOTICE.ERR_CHAT_SPEED_TOO_FAST'),
    Code('error_notice', 'ERR_JOINROOM_WRONG_PARAM', 63, 'Error in joining room parameters', 'TK.ERROR_NOTICE.ERR_JOINROOM_WRONG_PARAM'),
    Code('error_notice', 'ERR_JOINROOM_STUDENT_LIMIT_EXCEED', 64, 'The number of students has exceeded the limit', 'TK.ERROR_NOTICE.ERR_JOINROOM_STUDENT_LIMIT_EXCEED'),
    Code('error_notice', 'ERR_NOT_INITIALIZED', 101, 'Not initialized', 'TK.ERROR_NOTICE.ERR_NOT_INITIALIZED'),
    Code('error_notice', 'ERR_INVALID_STATUS', 102, 'Invalid status', 'TK.ERROR_NOTICE.ERR_INVALID_STATUS'),
    Code('error_notice', 'ERR_BAD_PARAMETERS', 103, 'The parameter is incorrect', 'TK.ERROR_NOTICE.ERR_BAD_PARAMETERS'),
    Code('error_notice', 'ERR_NO_THIS_USER', 104, 'There is no such user', 'TK.ERROR_NOTICE.ERR_NO_THIS_USER'),
    Code('error_notice', 'ERR_HTTP_REQUEST_FAILED', 111, 'The web interface request failed', 'TK.ERROR_NOTICE.ERR_HTTP_REQUEST_FAILED'),
    Code('error_notice', 'ERR_PUBLISH_FAILED', 131, 'Publication failed (the SDK will automatically reconnect)', 'TK.ERROR_NOTICE.ERR_PUBLISH_FAILED'),
    Code('error_notice', 'ERR_PUBLISH_TIMEOUT', 132, 'Publication timed out (the SDK will automatically reconnect)', 'TK.ERROR_NOTICE.ERR_PUBLISH_TIMEOUT'),
    Code('error_notice', 'ERR_PUBLISH_ROOMMAXVIDEOLIMITED', 133, 'Media link exceeded the limit', 'TK.ERROR_NOTICE.ERR_PUBLISH_ROOMMAXVIDEOLIMITED'),
    Code('error_notice', 'ERR_PUBLISH_MAX_RECONNECT_COUNT', 134, 'The number of publication reconnection attempts has exceeded the specified maximum number of reconnects. [Note: The maximum number of reconnects is unlimited by default and can be configured via the joinroom interface.]', 'TK.ERROR_NOTICE.ERR_PUBLISH_MAX_RECONNECT_COUNT'),
    Code('error_notice', 'ERR_SUBSCRIBE_FAILED', 141, 'Subscription failed (the SDK will automatically reconnect)', 'TK.ERROR_NOTICE.ERR_SUBSCRIBE_FAILED'),
    Code('error_notice', 'ERR_SUBSCRIBE_TIMEOUT', 142, 'Subscription timed out (the SDK will automatically reconnect)', 'TK.ERROR_NOTICE.ERR_SUBSCRIBE_TIMEOUT'),
    Code('error_notice', 'ERR_SUBSCRIBE_STREAM_NOTFOUND', 143, 'The stream has not been published', 'TK.ERROR_NOTICE.ERR_SUBSCRIBE_STREAM_NOTFOUND'),
    Code('error_notice', 'ERR_SWITCH_SERVER_FAILED', 151, 'Failed to switch servers', 'TK.ERROR_NOTICE.ERR_SWITCH_SERVER_FAILED'),
    Code('error_notice', 'ERR_SERVER_RECORDED', 153, 'The server recording has already been started or is currently in progress. There is no need to call the start recording interface again', 'TK.ERROR_NOTICE.ERR_SERVER_RECORDED'),
    Code('error_notice', 'ERR_SERVER_NOTRECORDED', 154, 'Recording has not started', 'TK.ERROR_NOTICE.ERR_SERVER_NOTRECORDED'),
    Code('error_notice', 'ERR_JOINGROUP_TIMEOUT', 155, 'Joining group timed out', 'TK.ERROR_NOTICE.ERR_JOINGROUP_TIMEOUT'),
    Code('error_notice', 'ERR_JOINGROUP_FAILED', 156, 'Failed to join the group', 'TK.ERROR_NOTICE.ERR_JOINGROUP_FAILED'),
    Code('info_notice', 'INFO_PUBLISH_COMPLETED', 2001, 'Publication succeeded', 'TK.INFO_NOTICE.INFO_PUBLISH_COMPLETED'),
    Code('info_notice', 'INFO_SUBSCRIBE_COMPLETED', 2002, 'Subscription succeeded', 'TK.INFO_NOTICE.INFO_SUBSCRIBE_COMPLETED'),
    Code('warning_notice', 'WAR_UNPUBLISHVIDEO_BY_SWITCHAUDIOROOM', 1011, 'When switching to a pure audio room, if a video has been published, the SDK will automatically unpublish the video', 'TK.WARNING_NOTICE.WAR_UNPUBLISHVIDEO_BY_SWITCHAUDIOROOM'),
    Code('warning_notice', 'WAR_PUBLISHVIDEO_BY_SWITCHAUDIOVIDEOROOM', 1012, 'When switching to an audio and video room, if audio has been published, the SDK will automatically publish video', 'TK.WARNING_NOTICE.WAR_PUBLISHVIDEO_BY_SWITCHAUDIOVIDEOROOM'),
    Code('warning_notice', 'WAR_UNPUBLISHVIDEO_BY_MAX_RECONNECT_COUNT', 1013, 'The number of publication reconnection attempts has exceeded the specified maximum number of reconnects, and the SDK will automatically unpublish the video', 'TK.WARNING_NOTICE.WAR_UNPUBLISHVIDEO_BY_MAX_RECONNECT_COUNT'),
    Code('warning_notice', 'WAR_UNPUBLISHAUDIO_BY_MAX_RECONNECT_COUNT', 1014, 'The number of publication reconnection attempts has exceeded the specified maximum number of reconnects, and the SDK will automatically unpublish the audio', 'TK.WARNING_NOTICE.WAR_UNPUBLISHAUDIO_BY_MAX_RECONNECT_COUNT'),
    Code('warning_notice', 'WAR_UNPUBLISHVIDEO_BY_GET_DEVICE_MEDIASTREAM_FAILURE', 1015, 'Failed to obtain the device stream, and the SDK will automatically unpublish the video', 'TK.WARNING_NOTICE.WAR_UNPUBLISHVIDEO_BY_GET_DEVICE_MEDIASTREAM_FAILURE'),
    Code('warning_notice', 'WAR_UNPUBLISHAUDIO_BY_GET_DEVICE_MEDIASTREAM_FAILURE', 1016, 'Failed to obtain the device stream, and the SDK will automatically unpublish the audio', 'TK.WARNING_NOTICE.WAR_UNPUBLISHAUDIO_BY_GET_DEVICE_MEDIASTREAM_FAILURE'),
)


def lookup(number: int) -> list[Code]:
    """All rows with this number, in every namespace where it occurs."""
    return [c for c in CODES if c.code == number]


def describe(namespace: str, number: int) -> str:
    """The seed's description of a code in one namespace (KeyError if it has none)."""
    for c in CODES:
        if c.namespace == namespace and c.code == number:
            return c.description
    raise KeyError((namespace, number))


def _enum(namespace: str, cls_name: str) -> Any:
    """An IntEnum of one namespace (``codes.WebAPI.ROOM_NOT_EXIST``). Its members are made
    from the registry at run time, which a type checker cannot see: hence ``Any``."""
    members = [(c.name, c.code) for c in CODES if c.namespace == namespace]
    return enum.IntEnum(cls_name, members)


WebAPI = _enum("webapi", "WebAPI")
SDK = _enum("sdk", "SDK")
ErrorNotice = _enum("error_notice", "ErrorNotice")
InfoNotice = _enum("info_notice", "InfoNotice")
WarningNotice = _enum("warning_notice", "WarningNotice")


# The browser SDK's objects for each namespace (web/sdk/src/codes.js is generated from CODES).
_JS_OBJECTS = (
    ("sdk", "TK_ERR", "The SDK's own codes (TK_ERR)."),
    ("error_notice", "ERROR_NOTICE", "Error notices (room-error-notice)."),
    ("info_notice", "INFO_NOTICE", "Info notices (room-info-notice)."),
    ("warning_notice", "WARNING_NOTICE", "Warning notices (room-warn-notice)."),
    ("webapi", "WEBAPI", "Web API and ClientAPI results (checkroom, getconfig, ...)."),
)


def _js_name(c: Code) -> str:
    return c.seed_name.rsplit(".", 1)[-1] if c.seed_name else c.name


def js_module() -> str:
    """``web/sdk/src/codes.js``: every code of the specification as the browser SDK's constants
    (names and numbers) and the seed's descriptions per namespace, so the two never drift."""
    lines = [
        "// GENERATED from src/tkroom/codes.py by `python -m tkroom.codes --js` (make js): do not edit.",
        "// Every status code of the TKRoomSDK specification; numbers repeat across namespaces,",
        "// so the descriptions are kept per namespace (DESCRIPTIONS.sdk[101] vs .error_notice[101]).",
        "",
    ]
    for ns, obj, doc in _JS_OBJECTS:
        lines.append(f"/** {doc} */")
        lines.append(f"export const {obj} = Object.freeze({{")
        lines += [f"  {_js_name(c)}: {c.code}," for c in CODES if c.namespace == ns]
        lines += ["});", ""]
    lines.append("/** The seed's description of each code, by namespace. */")
    lines.append("export const DESCRIPTIONS = Object.freeze({")
    for ns in NAMESPACES:
        lines.append(f"  {ns}: Object.freeze({{")
        lines += [f"    {c.code}: {json.dumps(c.description, ensure_ascii=False)},"
                  for c in CODES if c.namespace == ns]
        lines.append("  }),")
    lines += ["});", "", "/** The descriptions of the SDK's own codes (TK.MESSAGES). */",
              "export const MESSAGES = DESCRIPTIONS.sdk;", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] != ["--js"]:
        sys.exit("usage: python -m tkroom.codes --js > web/sdk/src/codes.js")
    sys.stdout.write(js_module())
