"""What the media plane knows about a room: its VideoRoom, publications and subscriptions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from tkroom.media.janus_client import JanusHandle
from tkroom.media.recording import RecordingJob
from tkroom.media.rules import StreamKey
from tkroom.media.servers import MediaServer
from tkroom.media.videoroom import VideoRoom


class RoomSink(Protocol):
    """How the media plane reaches clients (implemented over the room state)."""

    async def to_user(self, serial: str, userid: str, ev: str, data: dict[str, Any]) -> None:
        """Send one event to one member of the room."""

    async def to_room(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        """Send one event to every member of the room."""


@dataclass(eq=False)
class Publication:
    """One stream a user sends, on its own Janus handle (``feed`` is its VideoRoom id)."""

    key: StreamKey
    handle: JanusHandle
    feed: str
    flowing: bool = False
    completed: bool = False
    record_base: str = ""
    sdp: str = ""  # the media server's SDP answer: its mids and codecs (live forwarding)
    watchdog: asyncio.Task[None] | None = None

    def describe(self) -> dict[str, Any]:
        """The stream as ``onAddStream`` / ``getStreams`` tell it."""
        return {"streamId": self.key.stream_id, "userId": self.key.userid, "type": self.key.type,
                "deviceId": self.key.device_id, "audio": self.key.has_audio,
                "video": self.key.has_video}


@dataclass(eq=False)
class Subscription:
    """One user playing one publication, on its own Janus handle."""

    id: str
    userid: str
    pub: Publication
    handle: JanusHandle
    flowing: bool = False
    watchdog: asyncio.Task[None] | None = None


@dataclass(eq=False)
class MediaRoom:
    """A class's media on this node. Room-wide switches (audio-only, recording) exist before
    anyone publishes; ``videoroom`` is made by the first media request. ``placed``: it had
    a VideoRoom once, so it is placed again when a server comes back."""

    serial: str
    videoroom: VideoRoom | None = None
    placed: bool = False
    audio_only: bool = False
    withdrawn: dict[str, list[StreamKey]] = field(default_factory=dict)
    pubs: dict[str, Publication] = field(default_factory=dict)
    subs: dict[str, Subscription] = field(default_factory=dict)
    recording: RecordingJob | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def server(self) -> MediaServer | None:
        return self.videoroom.server if self.videoroom is not None else None
