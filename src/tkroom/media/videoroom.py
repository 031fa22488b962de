"""The Janus VideoRoom plugin as tkroom uses it: one typed method per request.

Every request body sent to the VideoRoom lives here; the media service above decides who may do
what and turns failures into codes. Methods raise ``JanusError`` (``code`` is Janus's, e.g.
428 "no such feed") or ``TimeoutError``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from tkroom.media.janus_client import JanusError, JanusHandle, JanusSession, Json
from tkroom.media.servers import MediaServer

NO_SUCH_FEED = 428  # also what ``kick`` answers for a participant not (or no longer) there
ROOM_EXISTS = 427


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """What a VideoRoom room is created with."""

    description: str
    bitrate: int
    rec_dir: str
    publishers: int = 100


@dataclass(frozen=True, slots=True)
class Forward:
    """One stream of a publisher to forward as plain RTP: its ``mid`` in the publisher's
    SDP, the local UDP ``port`` and the payload type ``pt`` the receiver's SDP names."""

    mid: str
    port: int
    pt: int


@dataclass(frozen=True, slots=True)
class Listed:
    """One room as Janus's ``list`` answers it."""

    room: str
    description: str
    participants: int


class VideoRoom:
    """One VideoRoom room on one server, with the session its handles live in."""

    def __init__(self, server: MediaServer, session: JanusSession, room_id: str) -> None:
        self.server = server
        self.session = session
        self.id = room_id

    @classmethod
    async def create(cls, server: MediaServer, room_id: str, settings: RoomSettings) -> VideoRoom:
        """Open a session on ``server`` and create the room (not permanent) through the
        server's control handle. A room that exists already (another node of the cluster
        created it: the class's room is shared) is joined as it is."""
        if server.conn is None or server.control is None:
            raise JanusError(0, f"media server {server.id} is not connected")
        session = await server.conn.create_session()
        try:
            await server.control.message({
                "request": "create", "room": room_id, "permanent": False,
                "description": settings.description[:100], "publishers": settings.publishers,
                "bitrate": settings.bitrate, "fir_freq": 5,
                "audiocodec": "opus", "videocodec": "vp8,h264",
                "rec_dir": settings.rec_dir, "notify_joining": False,
            })
        except JanusError as e:
            if e.code != ROOM_EXISTS:
                await session.destroy()
                raise
        except BaseException:
            await session.destroy()
            raise
        return cls(server, session, room_id)

    async def destroy(self) -> None:
        """Destroy the room and the session (its handles and PeerConnections go with it)."""
        if self.server.control is not None and self.server.healthy:
            # a server that restarted or is going took the room with it: nothing to do then
            with contextlib.suppress(JanusError, TimeoutError):
                await self.server.control.message({"request": "destroy", "room": self.id},
                                                  within=5)
        await self.session.destroy()

    async def leave(self) -> None:
        """Close this node's session (its handles and PeerConnections) and leave the room to
        the cluster: it is destroyed once, by the node that releases it."""
        await self.session.destroy()

    @staticmethod
    async def destroy_room(server: MediaServer, room_id: str) -> None:
        """Destroy a room on ``server`` (nothing when the server is not reachable now: a
        server that restarted took its rooms with it)."""
        if server.control is not None and server.healthy:
            with contextlib.suppress(JanusError, TimeoutError):
                await server.control.message({"request": "destroy", "room": room_id}, within=5)

    async def publishers(self) -> list[tuple[str, str]]:
        """``(feed, display)`` of the room's publishers sending media now, whichever node
        brokered them."""
        if self.server.control is None:
            raise JanusError(0, f"media server {self.server.id} is not connected")
        data, _ = await self.server.control.message({"request": "listparticipants",
                                                     "room": self.id})
        return [(str(p.get("id")), str(p.get("display", "")))
                for p in data.get("participants", []) if p.get("publisher")]

    async def kick(self, feed: str) -> bool:
        """Remove participant ``feed`` from the room now (Janus tells its subscribers); False
        when it is not there, e.g. another node kicked it first: one kick succeeds. The
        room has no secret, so any session may."""
        if self.server.control is None:
            raise JanusError(0, f"media server {self.server.id} is not connected")
        try:
            await self.server.control.message({"request": "kick", "room": self.id, "id": feed},
                                              within=5)
        except JanusError as e:
            if e.code == NO_SUCH_FEED:
                return False
            raise
        return True

    async def attach(self) -> JanusHandle:
        """A new handle on the plugin: one publication or one subscription."""
        return await self.session.attach()

    async def publish(self, handle: JanusHandle, *, feed: str, display: str, offer: Json,
                      audio: bool, video: bool, record_file: str | None,
                      within: float) -> Json:
        """Join as publisher ``feed`` and configure with the client's offer; the SDP answer."""
        await handle.message({"request": "join", "room": self.id, "ptype": "publisher",
                              "id": feed, "display": display}, within=within)
        body: Json = {"request": "configure"}
        if audio:
            body["audio"] = True
        if video:
            body["video"] = True
        if record_file is not None:
            body.update(record=True, filename=record_file)
        _, answer = await handle.message(body, offer, within=within)
        if not answer:
            raise JanusError(0, "no SDP answer from the media server")
        return answer

    async def subscribe(self, handle: JanusHandle, feed: str, *, within: float,
                        substream: int | None = None) -> tuple[Json, list[str]]:
        """Join as subscriber of ``feed``; Janus's SDP offer (428 while the feed is not up) and
        the subscription's video ``mid``s. ``substream``: the simulcast layer to start with."""
        stream: Json = {"feed": feed}
        if substream is not None:
            stream.update(substream=substream, temporal=2)
        data, offer = await handle.message({"request": "join", "room": self.id,
                                            "ptype": "subscriber", "streams": [stream]},
                                           within=within)
        if not offer:
            raise JanusError(0, "no SDP offer from the media server")
        mids = [str(s["mid"]) for s in data.get("streams", [])
                if s.get("type") == "video" and "mid" in s]
        return offer, mids

    @staticmethod
    async def set_substream(handle: JanusHandle, mids: list[str], substream: int, *,
                            within: float) -> None:
        """Forward simulcast layer ``substream`` (0 low .. 2 high, every temporal layer) on a
        subscription's video streams; a publisher sending one layer ignores it."""
        await handle.message({"request": "configure",
                              "streams": [{"mid": m, "substream": substream, "temporal": 2}
                                          for m in mids]}, within=within)

    @staticmethod
    async def start(handle: JanusHandle, answer: Json, *, within: float) -> None:
        """Give a subscription the client's SDP answer: media starts flowing."""
        await handle.message({"request": "start"}, answer, within=within)

    @staticmethod
    async def record(handle: JanusHandle, record_file: str | None) -> None:
        """Start recording a publication into ``record_file`` (relative to the room's
        ``rec_dir``), or stop (``None``)."""
        body: Json = {"request": "configure", "record": record_file is not None}
        if record_file is not None:
            body["filename"] = record_file
        await handle.message(body)

    @staticmethod
    async def keyframe(handle: JanusHandle) -> None:
        """Ask a publication for a key frame now (Janus sends it a PLI): a new receiver of its
        forwarded RTP decodes nothing before one."""
        await handle.message({"request": "configure", "keyframe": True}, within=5)

    @staticmethod
    async def trickle(handle: JanusHandle, candidate: Json | None) -> None:
        """Forward one ICE candidate of the client (``None``: end of candidates)."""
        await handle.trickle(candidate)

    async def rtp_forward(self, feed: str, host: str, streams: list[Forward], *,
                          within: float = 10.0) -> list[int]:
        """Forward publisher ``feed``'s streams as plain RTP to ``host`` (the live
        compositor); Janus's forwarder ids, one per stream. Janus drops them itself when the
        publisher goes."""
        if self.server.control is None:
            raise JanusError(0, f"media server {self.server.id} is not connected")
        data, _ = await self.server.control.message({
            "request": "rtp_forward", "room": self.id, "publisher_id": feed, "host": host,
            "host_family": "ipv4",
            "streams": [{"mid": f.mid, "port": f.port, "pt": f.pt} for f in streams],
        }, within=within)
        return [int(f["stream_id"]) for f in data.get("forwarders", [])]

    async def stop_rtp_forward(self, feed: str, stream_id: int) -> None:
        """Stop one forwarder (a publisher that already left took it with it: no error)."""
        if self.server.control is None or not self.server.healthy:
            return
        with contextlib.suppress(JanusError, TimeoutError):
            await self.server.control.message({
                "request": "stop_rtp_forward", "room": self.id, "publisher_id": feed,
                "stream_id": stream_id}, within=5)

    @staticmethod
    async def rooms(server: MediaServer) -> list[Listed]:
        """The rooms that exist on ``server`` now."""
        if server.control is None:
            raise JanusError(0, f"media server {server.id} is not connected")
        data, _ = await server.control.message({"request": "list"})
        return [Listed(str(r.get("room")), str(r.get("description", "")),
                       int(r.get("num_participants", 0))) for r in data.get("list", [])]
