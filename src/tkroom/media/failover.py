"""Which media server carries each room: placement, moves, and what happens when a server dies.

A room's VideoRoom is created on the least-loaded healthy server (or the one asked for). When a
server dies the rooms on it move to another healthy server, or wait for one to come back; on
``switchServerByName`` the room moves. The node never migrates PeerConnections: the room's
streams are removed, ``mediaServerChanged`` tells everyone, and clients publish and subscribe
again by themselves.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from tkroom.directory import RoomDirectory
from tkroom.errors import CodeError
from tkroom.media.janus_client import JanusError
from tkroom.media.model import MediaRoom, RoomSink
from tkroom.media.rules import room_bitrate
from tkroom.media.servers import MediaServer, ServerRegistry
from tkroom.media.videoroom import RoomSettings, VideoRoom

log = logging.getLogger(__name__)

ERR_NO_MEDIA_SERVER = 151

DropStreams = Callable[[MediaRoom], Awaitable[None]]


class Failover:
    """Places the rooms of ``rooms`` on the registry's servers and moves them."""

    def __init__(self, registry: ServerRegistry, directory: RoomDirectory, sink: RoomSink,
                 rooms: dict[str, MediaRoom], drop_streams: DropStreams, *,
                 record_dir: Path) -> None:
        self.registry = registry
        self.directory = directory
        self.sink = sink
        self.rooms = rooms
        self.drop_streams = drop_streams
        self.record_dir = record_dir
        self._gen = itertools.count(1)
        registry.on_down = self.server_down
        registry.on_up = self.server_up

    async def place(self, room: MediaRoom, prefer: MediaServer | None = None) -> None:
        """Create the room's VideoRoom on ``prefer`` or the least-loaded healthy server (151
        when there is none or it refuses)."""
        server = prefer or self.registry.pick()
        info = await self.directory.room(room.serial)
        if info is None:
            raise CodeError(4007)
        name = f"tk-{room.serial}-{next(self._gen)}-{secrets.token_hex(3)}"
        settings = RoomSettings(description=room.serial, bitrate=room_bitrate(info),
                                rec_dir=str(self.record_dir))
        try:
            room.videoroom = await VideoRoom.create(server, name, settings)
        except (JanusError, TimeoutError) as e:
            raise CodeError(ERR_NO_MEDIA_SERVER, f"cannot create the room on {server.id}: {e}",
                            namespace="error_notice") from e
        room.placed = True

    async def move(self, room: MediaRoom, target: MediaServer | None, reason: str) -> None:
        """Place the room on another server; clients republish and resubscribe by themselves."""
        await self.drop_streams(room)
        old, room.videoroom = room.videoroom, None
        if old is not None:
            await old.destroy()
        try:
            await self.place(room, target)
        except CodeError as e:
            log.warning("room %s has no media server now: %s", room.serial, e.message)
            await self.sink.to_room(room.serial, "mediaServerChanged",
                                    {"serverName": None, "reason": reason})
            return
        await self.sink.to_room(room.serial, "mediaServerChanged",
                                {"serverName": room.server.id if room.server else None,
                                 "reason": reason})

    async def server_down(self, server: MediaServer) -> None:
        """Move the server's rooms elsewhere, or keep them waiting for a server."""
        for room in [r for r in self.rooms.values() if r.server is server]:
            if any(s.healthy and s is not server for s in self.registry.servers.values()):
                await self.move(room, None, reason="mediaServerDown")
            else:
                await self._orphan(room)

    async def _orphan(self, room: MediaRoom) -> None:
        """No other server: forget the room's streams and wait for a server to come back."""
        await self.drop_streams(room)
        old, room.videoroom = room.videoroom, None
        if old is not None:
            await old.destroy()

    async def server_up(self, server: MediaServer) -> None:
        """Place the rooms that lost their server on the one that came back."""
        for room in [r for r in self.rooms.values() if r.videoroom is None and r.placed]:
            try:
                await self.place(room, server)
            except CodeError:
                continue
            await self.sink.to_room(room.serial, "mediaServerChanged",
                                    {"serverName": server.id, "reason": "mediaServerUp"})
