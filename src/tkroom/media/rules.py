"""Who may publish what: the media limits as pure functions (no Janus, no sockets).

A publication is one stream a user sends: its camera (``video``, several cameras told apart
by ``deviceId``), its microphone (``audio``), its screen (``screen``) or a shared media file
(``media``). ``maxvideo`` counts the room's streams carrying video, ``maxaudio`` (0 = no
limit) its audio streams.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.rooms import streams
from tkroom.rooms.model import INSPECTOR, STUDENT, SUPER_ROLES, VIEWER

TYPES = ("video", "audio", "screen", "media")
VIDEO_TYPES = frozenset(("video", "screen", "media"))

ERR_BAD_PARAMETERS = 103
ERR_NO_PERMISSION = 4108
ERR_PUBLISH_ROOMMAXVIDEOLIMITED = 133
PUBLICATIONS_EXCEED_LIMIT = 2601


@dataclass(frozen=True, slots=True)
class StreamKey:
    """What a publication is: whose, which kind, which device."""

    userid: str
    type: str
    device_id: str = "default"

    @property
    def has_video(self) -> bool:
        return self.type in VIDEO_TYPES

    @property
    def has_audio(self) -> bool:
        return self.type in ("audio", "media")

    @property
    def stream_id(self) -> str:
        return f"{self.userid}:{self.type}:{self.device_id}"


def requested_key(userid: str, data: Mapping[str, Any]) -> StreamKey:
    """The stream a ``publish`` request asks for (a camera by default)."""
    return StreamKey(userid, str(data.get("type", "video")), str(data.get("deviceId") or "default"))


def check_super(role: int, what: str) -> None:
    """Only the teacher or an assistant ``what`` (records, moves the room...): 4108."""
    if role not in SUPER_ROLES:
        raise CodeError(ERR_NO_PERMISSION, f"only the teacher or an assistant {what}")


def check_unpublish(role: int, userid: str, key: StreamKey) -> None:
    """A stream is withdrawn by its publisher or a super user: 4108 otherwise."""
    if key.userid != userid and role not in SUPER_ROLES:
        raise CodeError(ERR_NO_PERMISSION, "only the publisher or a super user may unpublish it")


def stage_allows(role: int, publishstate: int | None, key: StreamKey) -> bool:
    """Whether a user's ``publishstate`` (0 none, 1 audio, 2 video, 3 both, 4 muted) lets it
    send ``key``. Teachers and assistants are always on stage; ``None`` means unknown (not
    gated)."""
    if role != STUDENT or publishstate is None:
        return True
    if publishstate == 1:
        return key.has_audio and not key.has_video
    if publishstate == 2:
        return key.has_video and not key.has_audio
    return publishstate in (3, 4)


def check_publish(room: RoomInfo, role: int, key: StreamKey, existing: Iterable[StreamKey],
                  *, audio_only: bool, max_cameras: int = 3,
                  publishstate: int | None = None) -> None:
    """Raise the code the specification gives when ``key`` may not be published now by this
    user (``existing``: the room's streams this node knows). The room-wide limits are the
    stream claims' (``check_claim``): only the shared room state counts every node's."""
    if key.type not in TYPES:
        raise CodeError(ERR_BAD_PARAMETERS, f"unknown stream type {key.type!r}",
                        namespace="error_notice")
    if role in (VIEWER, INSPECTOR):
        raise CodeError(ERR_NO_PERMISSION, "live viewers and inspectors never publish")
    if not stage_allows(role, publishstate, key):
        raise CodeError(ERR_NO_PERMISSION, f"publishstate {publishstate} does not allow "
                        f"publishing {key.type} (the teacher puts students on stage)")
    if audio_only and key.has_video:
        raise CodeError(ERR_NO_PERMISSION, "the room is audio-only (OnlyAudioRoom)")
    existing = list(existing)
    mine = [k for k in existing if k.userid == key.userid]
    if key in mine:
        raise CodeError(PUBLICATIONS_EXCEED_LIMIT, f"{key.stream_id} is already published",
                        namespace="sdk")
    if key.type == "video" and sum(k.type == "video" for k in mine) >= max_cameras:
        raise CodeError(PUBLICATIONS_EXCEED_LIMIT,
                        f"at most {max_cameras} cameras per user", namespace="sdk")


def check_claim(room: RoomInfo, key: StreamKey, refused: streams.Refusal | None) -> None:
    """Raise the code for the room state's answer to the stream's claim
    (``RoomState.claim_stream``: the room-wide limits, counted over every node)."""
    if refused is None:
        return
    if refused == streams.TAKEN:
        raise CodeError(PUBLICATIONS_EXCEED_LIMIT, f"{key.stream_id} is already published",
                        namespace="sdk")
    if refused == streams.VIDEO_FULL:
        raise CodeError(ERR_PUBLISH_ROOMMAXVIDEOLIMITED,
                        f"the room carries at most {room.maxvideo} video streams",
                        namespace="error_notice")
    raise CodeError(ERR_PUBLISH_ROOMMAXVIDEOLIMITED,
                    f"the room carries at most {room.maxaudio} audio streams",
                    namespace="error_notice")


def room_bitrate(room: RoomInfo) -> int:
    """A realistic VideoRoom bitrate cap for the room's video profile (bits per second).

    Janus's sample room caps video at 128 kbit/s, which makes browsers send ~13 fps; measured
    here, 2 Mbit/s carries 640x480 at 20-30 fps.
    """
    by_type = {0: 300_000, 1: 800_000, 2: 2_000_000, 3: 2_500_000, 4: 4_000_000}
    return by_type.get(room.videotype, 2_000_000)
