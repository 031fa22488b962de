"""How the media service plugs into the signalling server, without changing it.

``attach_media`` registers every media request with ``SignalServer.register`` (the handler
passes the caller's room, user id, role and ``publishstate``), and follows the room events the
signal server publishes (``_departed`` for every departure, hidden members included, saved
``OnlyAudioRoom`` / ``ClassBegin``, ``setProperty`` of ``publishstate``) so the media side
reacts to them. A room is followed from the moment this node serves it (``room_hooks``: its
first local member joins), not from its first media request, and what was saved before that
(an audio-only switch, a ``ClassBegin`` that records) is applied when following starts. When
the class's last member leaves (the room state counts no member on any node) the room is no
longer followed and the service releases its media room, so nothing a class leaves behind (its
VideoRoom, cached switches) outlives it; the VideoRoom, shared by the nodes, is destroyed by
the one node the room state hands the record to. A ``mediaServerChanged`` (a node moved the
class) makes every node follow, and an ``onRemoveStream`` drops this node's subscriptions to
a stream another node brokered. ``_recording`` (a node started or stopped the class's
recording) makes every node record its own publications into it, or stop. The service reaches
clients through ``StateSink``: events published in the room state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tkroom.media.service import MEDIA_EVENTS, RECORDING_EVENT, MediaService
from tkroom.rooms.model import ALL, Event, Member, Target
from tkroom.signal.fanout import Conn
from tkroom.signal.server import Handler, SignalServer
from tkroom.state.base import RoomState
from tkroom.tasks import spawn


class StateSink:
    """``RoomSink`` over the room state: media events get ``s`` and reach every node."""

    def __init__(self, state: RoomState) -> None:
        self.state = state

    async def to_user(self, serial: str, userid: str, ev: str, data: dict[str, Any]) -> None:
        await self.state.publish(serial, Event(ev, data, Target("user", ids=(userid,))))

    async def to_room(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        await self.state.publish(serial, Event(ev, data, ALL))

    async def to_nodes(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        await self.state.publish(serial, Event(ev, data, Target("none")))


class MediaBridge:
    """The registered handlers and the room-event follower."""

    def __init__(self, server: SignalServer, media: MediaService) -> None:
        self.server = server
        self.media = media
        self.following: dict[str, Callable[[Event], None]] = {}
        for ev in MEDIA_EVENTS:
            server.register(ev, self._handler(ev))
        server.room_hooks.append(self._follow)
        server.state.on_restart(media.failover.reclaim)  # Redis lost the media-room records

    def _handler(self, ev: str) -> Handler:
        async def handle(conn: Conn, me: Member, data: Any) -> dict[str, Any]:
            self._follow(conn.serial)
            state = me.properties.get("publishstate")
            return await self.media.handle(ev, conn.serial, me.userid, me.role,
                                           data if isinstance(data, dict) else {},
                                           publishstate=int(state) if isinstance(state, int)
                                           else None, session=me.session)
        return handle

    def _follow(self, serial: str) -> None:
        if serial not in self.following:
            def callback(e: Event, s: str = serial) -> None:
                self._on_event(s, e)
            self.following[serial] = callback
            spawn(self._start_following(serial, callback), name=f"media-follow-{serial}")

    async def _start_following(self, serial: str, callback: Callable[[Event], None]) -> None:
        """Subscribe (live once the coroutine returns), then apply what was saved before: a
        message saved in between is seen twice, which the service's reactions tolerate."""
        try:
            await self.server.state.subscribe(serial, callback)
            if self.following.get(serial) is not callback:  # released meanwhile
                self.server.state.unsubscribe(serial, callback)
                return
            saved = await self.server.state.messages(serial)
        except BaseException:
            if self.following.get(serial) is callback:
                del self.following[serial]
            raise
        for msg in saved:
            await self.media.on_saved_message(serial, msg)
        await self.media.join_recording(serial)  # one another node started

    def _unfollow(self, serial: str) -> None:
        callback = self.following.pop(serial, None)
        if callback is not None:
            self.server.state.unsubscribe(serial, callback)

    def _on_event(self, serial: str, event: Event) -> None:
        d = event.data
        if event.ev == "_departed" and isinstance(d.get("id"), str):
            spawn(self._departed(serial, d["id"], str(d.get("session") or "")))
        elif event.ev == "mediaServerChanged":  # a node moved the class: every node follows
            spawn(self.media.follow(serial))
        elif event.ev == RECORDING_EVENT:  # another node started or stopped the recording
            spawn(self.media.join_recording(serial) if d.get("on") else
                  self.media.leave_recording(serial, str(d.get("id", ""))))
        elif event.ev == "onRemoveStream" and isinstance(d.get("streamId"), str):
            spawn(self.media.remote_gone(serial, d["streamId"], str(d.get("publicationId") or "")))
        elif event.ev == "pubMsg" and d.get("save"):
            spawn(self.media.on_saved_message(serial, d))
        elif event.ev == "delMsg":
            spawn(self.media.on_deleted_message(serial, d))
        elif event.ev == "setProperty" and "publishstate" in (d.get("properties") or {}):
            spawn(self._stage(serial, d["id"], d["properties"]["publishstate"]))

    async def _departed(self, serial: str, userid: str, session: str = "") -> None:
        """Release what the member's session held; when it was the class's last member on any
        node, the whole media room (``MediaService.release``: one node destroys it)."""
        await self.media.user_left(serial, userid, session)
        if await self.server.state.count_members(serial):
            return
        self._unfollow(serial)
        await self.media.release(serial)
        if await self.server.state.count_members(serial):  # someone came in meanwhile
            self._follow(serial)

    async def _stage(self, serial: str, userid: str, publishstate: Any) -> None:
        members = await self.server.state.get_members(serial, [userid])
        if members and isinstance(publishstate, int):
            await self.media.stage_changed(serial, userid, members[0].role, publishstate)


def attach_media(server: SignalServer, media: MediaService) -> MediaBridge:
    """Serve the media requests on ``server``'s sockets."""
    return MediaBridge(server, media)
