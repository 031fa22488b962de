"""Which media server carries each class: placement, moves, and what happens when a server dies.

A class's server and VideoRoom are one record in the shared room state (``MediaRecords``:
``RoomState.claim_media_room`` and its siblings), so every node of a cluster brokers its
members into the same VideoRoom, each through its own Janus session. The first node to place
the class claims the record; the others find it and join the room. When the server dies, or
``switchServerByName`` asks for another, the move is a compare-and-set on the record's
``epoch``: one node wins, tells everyone ``mediaServerChanged`` (once), and every node follows
(it drops the streams it brokers and joins the new room; see ``follow``). The node never
migrates PeerConnections: clients publish and subscribe again by themselves. The pure
decisions are ``media.placement``'s.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from tkroom.directory import RoomDirectory, RoomInfo
from tkroom.errors import CodeError
from tkroom.media.janus_client import JanusError
from tkroom.media.model import MediaRoom, RoomSink
from tkroom.media.placement import is_current, must_move, usable
from tkroom.media.rules import room_bitrate
from tkroom.media.servers import MediaServer, ServerRegistry
from tkroom.media.videoroom import RoomSettings, VideoRoom
from tkroom.tasks import spawn

log = logging.getLogger(__name__)

ERR_NO_MEDIA_SERVER = 151

DropStreams = Callable[[MediaRoom], Awaitable[None]]


class MediaRecords(Protocol):
    """The shared record of each class's media room, its streams' claims and its recording
    (``tkroom.state.base.RoomState``)."""

    async def claim_media_room(self, serial: str, record: dict[str, str],
                               replaces: int = 0) -> tuple[dict[str, Any] | None, bool]: ...

    async def media_room(self, serial: str) -> dict[str, Any] | None: ...

    async def release_media_room(self, serial: str) -> dict[str, Any] | None: ...

    # the stream claims of the room-wide limits (``MediaService``'s, kept here: one record)
    async def claim_stream(self, serial: str, stream_id: str, userid: str, has_video: bool,
                           has_audio: bool, maxvideo: int, maxaudio: int) -> str | None: ...

    async def release_stream(self, serial: str, stream_id: str) -> bool: ...

    async def release_streams(self, serial: str) -> int: ...

    # the nodes of the cluster: a dead node's feeds are the survivors' to remove
    node: str

    async def dead_nodes(self, nodes: Iterable[str]) -> set[str]: ...

    # the nodes' own Janus servers offered to the cluster (``TKROOM_JANUS_ADVERTISE``)
    async def share_media_server(self, record: dict[str, str] | None) -> None: ...

    async def shared_media_servers(self) -> dict[str, dict[str, str]]: ...

    async def forget_media_server(self, node: str) -> None: ...
    async def claim_recording(self, serial: str, node: str, now_ms: int, ttl_ms: int,
                              new_id: str) -> tuple[dict[str, Any] | None, bool]: ...

    async def renew_recording(self, serial: str, node: str, rec_id: str, now_ms: int,
                              ttl_ms: int) -> bool: ...

    async def recording(self, serial: str) -> dict[str, Any] | None: ...

    async def end_recording(self, serial: str, rec_id: str) -> dict[str, Any] | None: ...


class Failover:
    """Places the rooms of ``rooms`` on the registry's servers, as the shared record says, and
    moves them. ``old_room_grace``: how long a room left by a move lives on (the other nodes
    follow meanwhile) before the mover destroys it."""

    def __init__(self, registry: ServerRegistry, directory: RoomDirectory, sink: RoomSink,
                 rooms: dict[str, MediaRoom], drop_streams: DropStreams, *,
                 record_dir: Path, records: MediaRecords, old_room_grace: float = 5.0) -> None:
        self.registry = registry
        self.directory = directory
        self.sink = sink
        self.rooms = rooms
        self.drop_streams = drop_streams
        self.record_dir = record_dir
        self.records = records
        self.old_room_grace = old_room_grace
        registry.on_down = self.server_down
        registry.on_up = self.server_up

    async def _info(self, serial: str) -> RoomInfo:
        info = await self.directory.room(serial)
        if info is None:
            raise CodeError(4007)
        return info

    @staticmethod
    def _name(serial: str) -> str:
        return f"tk-{serial}-{secrets.token_hex(5)}"

    async def place(self, room: MediaRoom, prefer: MediaServer | None = None) -> None:
        """With ``room.lock`` held: join the class's VideoRoom the shared record names,
        claiming one on ``prefer`` or the least-loaded server the class may use when there is
        none, and moving it when its server cannot serve (151 when nothing can)."""
        info = await self._info(room.serial)
        rec = await self.records.media_room(room.serial)
        if rec is None:
            server = prefer or self.registry.pick(enterprise=info.companyid)
            rec, _ = await self.records.claim_media_room(
                room.serial, {"server": server.id, "room": self._name(room.serial)})
        elif must_move(rec, self.registry.servers, info.companyid):
            await self._move_locked(room, rec, None, "mediaServerDown", info)
            return
        if rec is None:
            raise CodeError(ERR_NO_MEDIA_SERVER, "the class's media room was released",
                            namespace="error_notice")
        await self._adopt(room, rec, info)

    async def _adopt(self, room: MediaRoom, rec: dict[str, Any], info: RoomInfo) -> None:
        """Join the recorded VideoRoom (creating it if this node is the first there)."""
        server = self.registry.servers.get(str(rec["server"]))
        if server is None or not server.healthy:
            raise CodeError(ERR_NO_MEDIA_SERVER, f"the class's media server {rec['server']} "
                            "is not reachable from this node", namespace="error_notice")
        settings = RoomSettings(description=room.serial, bitrate=room_bitrate(info),
                                rec_dir=str(self.record_dir))
        try:
            room.videoroom = await VideoRoom.create(server, str(rec["room"]), settings)
        except (JanusError, TimeoutError) as e:
            raise CodeError(ERR_NO_MEDIA_SERVER, f"cannot create the room on {server.id}: {e}",
                            namespace="error_notice") from e
        room.epoch = int(rec["epoch"])
        room.placed = True

    async def _leave(self, room: MediaRoom) -> None:
        """Drop what this node brokers in the room and close its session there."""
        await self.drop_streams(room)
        room.remote.clear()
        old, room.videoroom = room.videoroom, None
        if old is not None:
            await old.leave()

    async def move(self, room: MediaRoom, target: MediaServer | None, reason: str) -> None:
        """Move the class to ``target`` (or the best other server), decided once for the
        cluster; clients republish and resubscribe by themselves."""
        async with room.lock:
            info = await self._info(room.serial)
            rec = await self.records.media_room(room.serial)
            await self._move_locked(room, rec, target, reason, info)

    async def _move_locked(self, room: MediaRoom, rec: dict[str, Any] | None,
                           target: MediaServer | None, reason: str, info: RoomInfo) -> None:
        won = False
        if rec is None or rec["epoch"] == room.epoch or room.epoch == 0:
            exclude = () if rec is None or target is not None else (str(rec["server"]),)
            try:
                server = target or self.registry.pick(exclude=exclude, enterprise=info.companyid)
            except CodeError as e:
                log.warning("room %s has no media server now: %s", room.serial, e.message)
                await self._leave(room)
                return
            rec, won = await self.records.claim_media_room(
                room.serial, {"server": server.id, "room": self._name(room.serial)},
                replaces=int(rec["epoch"]) if rec is not None else 0)
        old = room.videoroom
        await self._leave(room)
        if won and old is not None and old.server.healthy:
            spawn(self._destroy_later(old.server, old.id))
        if rec is None:
            return
        try:
            await self._adopt(room, rec, info)
        except CodeError as e:
            log.warning("room %s cannot follow its media room: %s", room.serial, e.message)
        if won:
            await self.sink.to_room(room.serial, "mediaServerChanged",
                                    {"serverName": rec["server"], "reason": reason})

    async def _destroy_later(self, server: MediaServer, room_id: str) -> None:
        await asyncio.sleep(self.old_room_grace)
        await VideoRoom.destroy_room(server, room_id)

    async def follow(self, room: MediaRoom) -> None:
        """Another node moved the class (``mediaServerChanged``): leave the old room and join
        the one the record names now."""
        async with room.lock:
            if not room.placed:
                return
            rec = await self.records.media_room(room.serial)
            vr = room.videoroom
            if is_current(rec, vr.server.id if vr else None, vr.id if vr else None):
                return
            await self._leave(room)
            if rec is not None and usable(rec, self.registry.servers):
                try:
                    await self._adopt(room, rec, await self._info(room.serial))
                except CodeError as e:
                    log.warning("room %s cannot follow its media room: %s", room.serial,
                                e.message)

    async def reclaim(self) -> None:
        """The shared state lost its records (Redis restarted): claim again the rooms this
        node brokers into; the first claim of each class wins and the other nodes follow it
        (a node whose room lost sends nothing: ``mediaServerChanged`` is not needed, the
        winner's room is where the class already was or the follower moves its own streams)."""
        for room in list(self.rooms.values()):
            async with room.lock:
                vr = room.videoroom
                if vr is None:
                    continue
                rec, _ = await self.records.claim_media_room(
                    room.serial, {"server": vr.server.id, "room": vr.id})
                if rec is not None and is_current(rec, vr.server.id, vr.id):
                    room.epoch = int(rec["epoch"])
                    continue
                await self._leave(room)
                if rec is not None and usable(rec, self.registry.servers):
                    try:
                        await self._adopt(room, rec, await self._info(room.serial))
                    except CodeError as e:
                        log.warning("room %s cannot follow its media room: %s", room.serial,
                                    e.message)

    async def server_down(self, server: MediaServer) -> None:
        """Move the server's rooms elsewhere (once for the cluster), or keep them waiting."""
        for room in [r for r in self.rooms.values() if r.server is server]:
            try:
                await self.move(room, None, reason="mediaServerDown")
            except CodeError as e:
                log.warning("room %s: %s", room.serial, e.message)

    async def server_up(self, server: MediaServer) -> None:
        """Place the rooms that lost their server on the one that came back."""
        for room in [r for r in self.rooms.values() if r.videoroom is None and r.placed]:
            async with room.lock:
                try:
                    info = await self._info(room.serial)
                    rec = await self.records.media_room(room.serial)
                    if rec is not None and rec["epoch"] != room.epoch and \
                            usable(rec, self.registry.servers):
                        await self._adopt(room, rec, info)  # another node moved it meanwhile
                    elif rec is not None:
                        await self._move_locked(room, rec, server, "mediaServerUp", info)
                except CodeError:
                    continue
