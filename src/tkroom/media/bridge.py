"""How the media service plugs into the signalling server, without changing it.

``attach_media`` registers every media request with ``SignalServer.register`` (the handler
passes the caller's room, user id, role and ``publishstate``), and follows the room events the
signal server publishes (``_departed`` for every departure, hidden members included, saved
``OnlyAudioRoom`` / ``ClassBegin``, ``setProperty`` of ``publishstate``) so the media side
reacts to them. A room is followed from the moment this node serves it (``room_hooks``: its
first local member joins), not from its first media request, and what was saved before that
(an audio-only switch, a ``ClassBegin`` that records) is applied when following starts. The
service reaches clients through ``StateSink``: events published in the room state.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tkroom.media.service import MEDIA_EVENTS, MediaService
from tkroom.rooms.model import ALL, Event, Member, Target
from tkroom.signal.fanout import Conn
from tkroom.signal.server import SignalServer
from tkroom.state.base import RoomState

log = logging.getLogger(__name__)


class StateSink:
    """``RoomSink`` over the room state: media events get ``s`` and reach every node."""

    def __init__(self, state: RoomState) -> None:
        self.state = state

    async def to_user(self, serial: str, userid: str, ev: str, data: dict[str, Any]) -> None:
        await self.state.publish(serial, Event(ev, data, Target("user", ids=(userid,))))

    async def to_room(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        await self.state.publish(serial, Event(ev, data, ALL))


class MediaBridge:
    """The registered handlers and the room-event follower."""

    def __init__(self, server: SignalServer, media: MediaService) -> None:
        self.server = server
        self.media = media
        self.following: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        for ev in MEDIA_EVENTS:
            server.register(ev, self._handler(ev))
        server.room_hooks.append(self._follow)

    def _handler(self, ev: str):  # noqa: ANN202 - the signal server's Handler type
        async def handle(conn: Conn, me: Member, data: Any) -> dict[str, Any]:
            self._follow(conn.serial)
            state = me.properties.get("publishstate")
            return await self.media.handle(ev, conn.serial, me.userid, me.role,
                                           data if isinstance(data, dict) else {},
                                           publishstate=int(state) if isinstance(state, int)
                                           else None)
        return handle

    def _follow(self, serial: str) -> None:
        if serial not in self.following:
            self.following.add(serial)
            self._spawn(self._start_following(serial))

    async def _start_following(self, serial: str) -> None:
        """Subscribe (live once the coroutine returns), then apply what was saved before: a
        message saved in between is seen twice, which the service's reactions tolerate."""
        try:
            await self.server.state.subscribe(serial, lambda e, s=serial: self._on_event(s, e))
            saved = await self.server.state.messages(serial)
        except BaseException:
            self.following.discard(serial)
            raise
        for msg in saved:
            await self.media.on_saved_message(serial, msg)

    def _on_event(self, serial: str, event: Event) -> None:
        d = event.data
        if event.ev == "_departed" and isinstance(d.get("id"), str):
            self._spawn(self.media.user_left(serial, d["id"]))
        elif event.ev == "pubMsg" and d.get("save"):
            self._spawn(self.media.on_saved_message(serial, d))
        elif event.ev == "delMsg":
            self._spawn(self.media.on_deleted_message(serial, d))
        elif event.ev == "setProperty" and "publishstate" in (d.get("properties") or {}):
            self._spawn(self._stage(serial, d["id"], d["properties"]["publishstate"]))

    async def _stage(self, serial: str, userid: str, publishstate: Any) -> None:
        members = await self.server.state.get_members(serial, [userid])
        if members and isinstance(publishstate, int):
            await self.media.stage_changed(serial, userid, members[0].role, publishstate)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("media reaction failed", exc_info=task.exception())


def attach_media(server: SignalServer, media: MediaService) -> MediaBridge:
    """Serve the media requests on ``server``'s sockets."""
    return MediaBridge(server, media)
