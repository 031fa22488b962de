"""The feeds a dead node of the cluster left in the VideoRooms of its classes.

A node that dies without its Janus connection closing (its machine stops, the network between
it and Janus goes, its process hangs) leaves its publishers in the class's VideoRoom until
Janus's ``session_timeout`` (60 s): the members on the other nodes would keep seeing its
streams as published. Every node looks, every ``every`` seconds, at the feeds of the VideoRooms
it brokers into: a feed whose display names another node (``placement.feed_display``) that the
room state takes for dead (``dead_nodes``: its heartbeat expired, 5 heartbeats of silence), and
still does ``confirm`` seconds later (a node only paused beats again meanwhile: a kick would cut
its live publishers), is kicked; the node whose kick Janus accepts (exactly one) announces ``onRemoveStream`` to the
class. A dead node's feed that Janus already dropped (the node's socket closed with its process)
but that this node still plays is announced by the node(s) playing it: nobody else would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tkroom.media.failover import MediaRecords
from tkroom.media.janus_client import JanusError
from tkroom.media.model import MediaRoom, RemoteFeed, RoomSink
from tkroom.media.placement import node_of, stream_of
from tkroom.media.rules import StreamKey
from tkroom.media.videoroom import VideoRoom

log = logging.getLogger(__name__)

# ``MediaService.remote_gone``: drop this node's subscriptions to a publication
DropRemote = Callable[[str, str, str], Awaitable[None]]


class DeadNodeFeeds:
    """Removes, from the rooms of ``rooms``, the feeds of the nodes ``records`` takes for
    dead, and tells the class through ``sink``."""

    def __init__(self, rooms: dict[str, MediaRoom], records: MediaRecords, sink: RoomSink,
                 drop_remote: DropRemote, every: float = 1.0, confirm: float = 2.0) -> None:
        self.rooms = rooms
        self.records = records
        self.sink = sink
        self.drop_remote = drop_remote
        self.every = every
        self.confirm = confirm
        self._dead_since: dict[str, float] = {}  # node -> when this node first saw it dead
        self.removed = 0  # feeds this node removed (kicked, or announced gone)

    async def run(self) -> None:
        """Sweep every ``every`` seconds until cancelled (a failed sweep is logged)."""
        if not self.records.node:   # a state of one node: no other node can die
            return
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweep of dead nodes' feeds failed")

    async def sweep(self) -> int:
        """One look at every VideoRoom this node brokers into; how many feeds it removed."""
        listed: list[tuple[MediaRoom, VideoRoom, list[tuple[str, str]]]] = []
        nodes: set[str] = set()
        for room in list(self.rooms.values()):
            vr = room.videoroom
            if vr is None:
                continue
            try:
                feeds = await vr.publishers()
            except (JanusError, TimeoutError):
                continue
            listed.append((room, vr, feeds))
            nodes |= {node_of(display) for _, display in feeds}
            nodes |= {f.node for f in room.remote.values()}
        nodes -= {"", self.records.node}
        seen = await self.records.dead_nodes(nodes) if nodes else set()
        now = asyncio.get_running_loop().time()
        self._dead_since = {n: self._dead_since.get(n, now) for n in seen}
        dead = {n for n, since in self._dead_since.items() if now - since >= self.confirm}
        if not dead:
            return 0
        n = 0
        for room, vr, feeds in listed:
            for feed, display in feeds:
                parts = stream_of(display)
                if parts is None or node_of(display) not in dead:
                    continue
                try:
                    kicked = await vr.kick(feed)
                except (JanusError, TimeoutError) as e:
                    log.warning("could not remove feed %s of a dead node from %s: %s", feed,
                                room.serial, e)
                    continue
                if kicked:
                    node = node_of(display)
                    log.info("removed feed %s of dead node %s from %s", feed, node, room.serial)
                    await self._gone(room, RemoteFeed(StreamKey(*parts[:3]), feed,
                                                      simulcast=parts[3], node=node))
                    n += 1
            there = {feed for feed, _ in feeds}
            for f in [f for f in room.remote.values() if f.node in dead and f.feed not in there]:
                await self._gone(room, f)
                n += 1
        self.removed += n
        return n

    async def _gone(self, room: MediaRoom, feed: RemoteFeed) -> None:
        """Drop this node's subscriptions to ``feed`` and tell the class it is gone (each
        node drops its own on the event; a newer publication of the stream stays)."""
        await self.drop_remote(room.serial, feed.key.stream_id, feed.id)
        await self.sink.to_room(room.serial, "onRemoveStream",
                                {**feed.describe(), "reason": "nodeDown"})
