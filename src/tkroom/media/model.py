"""What the media plane knows about a room: its VideoRoom, publications and subscriptions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from tkroom.media.janus_client import JanusHandle
from tkroom.media.layers import LayerControl
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

    async def to_nodes(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        """Tell every node that serves the room (no client sees it)."""


def publication_id(feed: str) -> str:
    """A publication attempt's id (``publicationId``) from its Janus feed, so that every node
    of a cluster names an attempt alike and clients can tell a stale notice from a live one."""
    return f"pub-{feed}"


@dataclass(eq=False)
class Publication:
    """One stream a user sends, on its own Janus handle (``feed`` is its VideoRoom id).

    ``id`` tells this attempt from the earlier and later publications of the same stream id:
    a client retrying quickly sees notices and events of attempts it already abandoned."""

    key: StreamKey
    handle: JanusHandle
    feed: str
    session: str = ""  # the publisher's signalling session: a same-id re-join releases it
    flowing: bool = False
    completed: bool = False
    record_base: str = ""
    sdp: str = ""  # the media server's SDP answer: its mids and codecs (live forwarding)
    watchdog: asyncio.Task[None] | None = None
    simulcast: bool = False

    @property
    def id(self) -> str:
        """The attempt's name, the same on every node: each attempt joins Janus as a new feed,
        which the other nodes of the cluster see too (``RemoteFeed.id``)."""
        return publication_id(self.feed)

    def describe(self) -> dict[str, Any]:
        """The stream as ``onAddStream`` / ``getStreams`` tell it."""
        return {"streamId": self.key.stream_id, "userId": self.key.userid, "type": self.key.type,
                "deviceId": self.key.device_id, "audio": self.key.has_audio,
                "video": self.key.has_video, "simulcast": self.simulcast,
                "publicationId": self.id}


@dataclass(eq=False)
class RemoteFeed:
    """A stream another node of the cluster brokers into the class's VideoRoom: subscribable
    here by its ``feed``, published and withdrawn over there."""

    key: StreamKey
    feed: str
    flowing: bool = True
    simulcast: bool = False     # it sends simulcast layers (the feed's display says)
    node: str = ""              # the node that brokers it (the display says; "": not said)

    @property
    def id(self) -> str:
        """As ``Publication.id``: the publishing node names the attempt after its feed too."""
        return publication_id(self.feed)

    def describe(self) -> dict[str, Any]:
        """As ``Publication.describe``."""
        return {"streamId": self.key.stream_id, "userId": self.key.userid, "type": self.key.type,
                "deviceId": self.key.device_id, "audio": self.key.has_audio,
                "video": self.key.has_video, "simulcast": self.simulcast,
                "publicationId": self.id}


@dataclass(eq=False)
class Subscription:
    """One user playing one publication, on its own Janus handle."""

    id: str
    userid: str
    pub: Publication | RemoteFeed
    handle: JanusHandle
    flowing: bool = False
    session: str = ""
    watchdog: asyncio.Task[None] | None = None
    layers: LayerControl = field(default_factory=LayerControl)
    video_mids: list[str] = field(default_factory=list)
    prober: asyncio.Task[None] | None = None


@dataclass(eq=False)
class MediaRoom:
    """A class's media on this node. Room-wide switches (audio-only, recording) exist before
    anyone publishes; ``videoroom`` is made by the first media request. ``placed``: it had
    a VideoRoom once, so it is placed again when a server comes back. ``epoch``: the version
    of the cluster's record (``RoomState.media_room``) ``videoroom`` follows; ``remote``: the
    streams other nodes broker into the same VideoRoom, as subscriptions here found them."""

    serial: str
    videoroom: VideoRoom | None = None
    placed: bool = False
    audio_only: bool = False
    withdrawn: dict[str, list[StreamKey]] = field(default_factory=dict)
    epoch: int = 0
    pubs: dict[str, Publication] = field(default_factory=dict)
    remote: dict[str, RemoteFeed] = field(default_factory=dict)
    subs: dict[str, Subscription] = field(default_factory=dict)
    link_caps: dict[str, int] = field(default_factory=dict)  # userid -> layer its link carried
    recording: RecordingJob | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    rec_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # joining, leaving a recording

    @property
    def server(self) -> MediaServer | None:
        return self.videoroom.server if self.videoroom is not None else None
