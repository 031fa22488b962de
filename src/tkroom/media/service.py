"""The media service the signalling server calls: SDP brokering, limits, failover, recording.

The signal server hands every media request (``MEDIA_EVENTS``) to ``MediaService.handle``
together with the caller's room, user id and role, and tells the service when a user leaves
and when a saved message appears or goes (``OnlyAudioRoom``, ``ClassBegin``). The service
talks to the room's Janus, answers with ack data or raises ``CodeError``, and sends events and
notices through the ``RoomSink`` it was given. Clients never see Janus's API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tkroom import codes
from tkroom.directory import RoomDirectory, RoomInfo
from tkroom.errors import CodeError
from tkroom.media.janus_client import JanusError, JanusHandle, JanusSession, Json
from tkroom.media.recording import RecordingJob, RecordSink
from tkroom.media.rules import (
    SUPER_ROLES,
    StreamKey,
    check_publish,
    room_bitrate,
    stage_allows,
)
from tkroom.media.servers import MediaServer, ServerRegistry

log = logging.getLogger(__name__)

MEDIA_EVENTS = frozenset((
    "publish", "unpublish", "subscribe", "unsubscribe", "signaling_message", "getStreams",
    "requestServerList", "switchServerByName", "startServerRecord", "stopServerRecord",
))

E = codes.ErrorNotice
W = codes.WarningNotice
I = codes.InfoNotice  # noqa: E741


class RoomSink(Protocol):
    """How the service reaches clients (implemented by the signal server)."""

    async def to_user(self, serial: str, userid: str, ev: str, data: dict[str, Any]) -> None:
        """Send one event to one member of the room."""

    async def to_room(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        """Send one event to every member of the room."""


@dataclass(eq=False)
class Publication:
    key: StreamKey
    handle: JanusHandle
    janus_id: str
    flowing: bool = False
    completed: bool = False
    record_base: str = ""
    watchdog: asyncio.Task[None] | None = None

    def describe(self) -> dict[str, Any]:
        return {"streamId": self.key.stream_id, "userId": self.key.userid, "type": self.key.type,
                "deviceId": self.key.device_id, "audio": self.key.has_audio,
                "video": self.key.has_video}


@dataclass(eq=False)
class Subscription:
    id: str
    userid: str
    pub: Publication
    handle: JanusHandle
    flowing: bool = False
    watchdog: asyncio.Task[None] | None = None


@dataclass(eq=False)
class MediaRoom:
    serial: str
    info: RoomInfo
    server: MediaServer | None = None
    session: JanusSession | None = None
    janus_room: str = ""
    audio_only: bool = False
    withdrawn: dict[str, list[StreamKey]] = field(default_factory=dict)
    pubs: dict[str, Publication] = field(default_factory=dict)
    subs: dict[str, Subscription] = field(default_factory=dict)
    recording: RecordingJob | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class MediaService:
    """Media for every room of this node."""

    def __init__(self, registry: ServerRegistry, directory: RoomDirectory, sink: RoomSink, *,
                 record_dir: Path, records: RecordSink | None = None,
                 publish_timeout: float = 10.0, subscribe_timeout: float = 10.0,
                 max_cameras: int = 3) -> None:
        self.registry = registry
        self.directory = directory
        self.sink = sink
        self.record_dir = record_dir
        self.records = records
        self.publish_timeout = publish_timeout
        self.subscribe_timeout = subscribe_timeout
        self.max_cameras = max_cameras
        self.rooms: dict[str, MediaRoom] = {}
        self._gen = itertools.count(1)
        self.postprocessing: set[asyncio.Task[Any]] = set()
        registry.on_down = self._server_down
        registry.on_up = self._server_up

    # ---- dispatch -------------------------------------------------------------------------

    async def handle(self, ev: str, serial: str, userid: str, role: int,
                     data: dict[str, Any], publishstate: int | None = None) -> dict[str, Any]:
        """Answer one media request (ack data), or raise ``CodeError``.

        ``publishstate`` is the caller's property (students publish only what it allows);
        ``None`` skips that check.
        """
        fn = getattr(self, f"_ev_{ev}", None)
        if ev not in MEDIA_EVENTS or fn is None:
            raise CodeError(103, f"unknown media request {ev!r}", namespace="error_notice")
        if not isinstance(data, dict):
            raise CodeError(103, "data must be an object", namespace="error_notice")
        if ev == "publish":
            data = {**data, "_publishstate": publishstate}
        return await fn(serial, userid, role, data)

    async def _known(self, serial: str) -> MediaRoom:
        """The room's media state, without placing it on a media server (room-wide switches
        are kept before anyone publishes; the first media request places the room)."""
        room = self.rooms.get(serial)
        if room is None:
            info = await self.directory.room(serial)
            if info is None:
                raise CodeError(4007)
            room = self.rooms.setdefault(serial, MediaRoom(serial, info))
        return room

    async def _room(self, serial: str) -> MediaRoom:
        room = await self._known(serial)
        if room.server is None or not room.server.healthy or room.session is None:
            await self._place(room)
        return room

    async def _place(self, room: MediaRoom, prefer: MediaServer | None = None) -> None:
        """Create the room's VideoRoom on ``prefer`` or the least-loaded healthy server."""
        server = prefer or self.registry.pick()
        if server.conn is None:
            raise CodeError(151, f"media server {server.id} is not connected",
                            namespace="error_notice")
        try:
            session = await server.conn.create_session()
            janus_room = f"tk-{room.serial}-{next(self._gen)}-{secrets.token_hex(3)}"
            await server.control.message({
                "request": "create", "room": janus_room, "permanent": False,
                "description": room.serial[:100], "publishers": 100,
                "bitrate": room_bitrate(room.info), "fir_freq": 5,
                "audiocodec": "opus", "videocodec": "vp8,h264",
                "rec_dir": str(self.record_dir), "notify_joining": False,
            })
        except (JanusError, TimeoutError) as e:
            raise CodeError(151, f"cannot create the room on {server.id}: {e}",
                            namespace="error_notice") from e
        room.server, room.session, room.janus_room = server, session, janus_room

    # ---- publishing -----------------------------------------------------------------------

    async def _ev_publish(self, serial: str, userid: str, role: int, d: Json) -> Json:
        jsep = d.get("jsep")
        if not isinstance(jsep, dict) or jsep.get("type") != "offer":
            raise CodeError(103, "publish needs an SDP offer in jsep", namespace="error_notice")
        key = StreamKey(userid, str(d.get("type", "video")), str(d.get("deviceId") or "default"))
        room = await self._room(serial)
        async with room.lock:
            check_publish(room.info, role, key, [p.key for p in room.pubs.values()],
                          audio_only=room.audio_only, max_cameras=self.max_cameras,
                          publishstate=d.get("_publishstate"))
            handle = await self._attach(room)
            pub = Publication(key, handle, janus_id=secrets.token_hex(8))
            room.pubs[key.stream_id] = pub
            room.server.load += 1
        try:
            await handle.message({"request": "join", "room": room.janus_room,
                                  "ptype": "publisher", "id": pub.janus_id, "display": userid},
                                 within=self.publish_timeout)
            body: Json = {"request": "configure", "audio": key.has_audio or None,
                          "video": key.has_video or None}
            body = {k: v for k, v in body.items() if v is not None}
            if room.recording is not None:
                pub.record_base = room.recording.base_for(key.stream_id)
                body.update(record=True, filename=self._rec_name(pub.record_base))
            _, answer = await handle.message(body, jsep, within=self.publish_timeout)
        except TimeoutError:
            await self._drop_pub(room, pub, announce=False)
            raise CodeError(E.ERR_PUBLISH_TIMEOUT, namespace="error_notice",
                            **self._fields(key)) from None
        except JanusError as e:
            await self._drop_pub(room, pub, announce=False)
            raise CodeError(E.ERR_PUBLISH_FAILED, f"Janus refused the offer: {e.reason}",
                            namespace="error_notice", **self._fields(key)) from None
        if not answer:
            await self._drop_pub(room, pub, announce=False)
            raise CodeError(E.ERR_PUBLISH_FAILED, "no answer from the media server",
                            namespace="error_notice", **self._fields(key))
        handle.on_event = lambda m: self._pub_event(room, pub, m)
        pub.watchdog = asyncio.create_task(self._publish_watchdog(room, pub))
        return {"streamId": key.stream_id, "jsep": answer}

    async def _attach(self, room: MediaRoom) -> JanusHandle:
        try:
            return await room.session.attach()
        except (JanusError, TimeoutError) as e:
            raise CodeError(E.ERR_PUBLISH_FAILED, f"media server unavailable: {e}",
                            namespace="error_notice") from e

    @staticmethod
    def _fields(key: StreamKey) -> dict[str, str]:
        return {"userId": key.userid, "type": key.type, "deviceId": key.device_id}

    def _pub_event(self, room: MediaRoom, pub: Publication, msg: Json) -> None:
        kind = msg.get("janus")
        if room.pubs.get(pub.key.stream_id) is not pub:
            return
        if kind == "webrtcup" and not pub.flowing:
            pub.flowing = True
            self._spawn(self.sink.to_room(room.serial, "onAddStream", pub.describe()))
        elif kind == "media" and msg.get("receiving") and not pub.completed:
            pub.completed = True
            self._spawn(self._notice(room.serial, pub.key.userid, "info",
                                     I.INFO_PUBLISH_COMPLETED, **self._fields(pub.key)))
        elif kind == "hangup":
            self._spawn(self._pub_failed(room, pub, E.ERR_PUBLISH_FAILED,
                                         str(msg.get("reason", "hangup"))))

    async def _publish_watchdog(self, room: MediaRoom, pub: Publication) -> None:
        await asyncio.sleep(self.publish_timeout)
        if not pub.flowing:
            await self._pub_failed(room, pub, E.ERR_PUBLISH_TIMEOUT, "no media within "
                                   f"{self.publish_timeout:g} s")

    async def _pub_failed(self, room: MediaRoom, pub: Publication, code: int, why: str) -> None:
        if room.pubs.get(pub.key.stream_id) is not pub:
            return
        await self._drop_pub(room, pub, announce=True)
        await self._notice(room.serial, pub.key.userid, "error", code,
                           f"{codes.describe('error_notice', code)}: {why}", **self._fields(pub.key))

    async def _drop_pub(self, room: MediaRoom, pub: Publication, *, announce: bool) -> None:
        """Forget a publication, close it in Janus, drop its subscribers, tell the room."""
        if room.pubs.get(pub.key.stream_id) is pub:
            del room.pubs[pub.key.stream_id]
            if room.server is not None:
                room.server.load -= 1
        if pub.watchdog is not None and pub.watchdog is not asyncio.current_task():
            pub.watchdog.cancel()
        for sub in [s for s in room.subs.values() if s.pub is pub]:
            await self._drop_sub(room, sub)
        if room.recording is not None and pub.record_base:
            room.recording.stopped(pub.record_base)
        pub.handle.on_event = None
        await pub.handle.detach()
        if announce and pub.flowing:
            await self.sink.to_room(room.serial, "onRemoveStream", pub.describe())

    async def _ev_unpublish(self, serial: str, userid: str, role: int, d: Json) -> Json:
        room = await self._room(serial)
        pub = room.pubs.get(str(d.get("streamId", "")))
        if pub is None:
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, namespace="error_notice")
        if pub.key.userid != userid and role not in SUPER_ROLES:
            raise CodeError(4108, "only the publisher or a super user may unpublish it")
        await self._drop_pub(room, pub, announce=True)
        return {}

    async def _ev_getStreams(self, serial: str, userid: str, role: int, d: Json) -> Json:
        room = await self._room(serial)
        return {"streams": [p.describe() for p in room.pubs.values() if p.flowing]}

    # ---- subscribing ----------------------------------------------------------------------

    async def _ev_subscribe(self, serial: str, userid: str, role: int, d: Json) -> Json:
        room = await self._room(serial)
        pub = room.pubs.get(str(d.get("streamId", "")))
        if pub is None or not pub.flowing:
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, namespace="error_notice",
                            streamId=d.get("streamId"))
        try:
            handle = await room.session.attach()
        except (JanusError, TimeoutError) as e:
            raise CodeError(E.ERR_SUBSCRIBE_FAILED, str(e), namespace="error_notice",
                            **self._fields(pub.key)) from e
        sub = Subscription(f"sub-{secrets.token_hex(8)}", userid, pub, handle)
        room.subs[sub.id] = sub
        room.server.load += 1
        try:
            _, offer = await handle.message(
                {"request": "join", "room": room.janus_room, "ptype": "subscriber",
                 "streams": [{"feed": pub.janus_id}]},
                within=self.subscribe_timeout)
        except TimeoutError:
            await self._drop_sub(room, sub)
            raise CodeError(E.ERR_SUBSCRIBE_TIMEOUT, namespace="error_notice",
                            **self._fields(pub.key)) from None
        except JanusError as e:
            await self._drop_sub(room, sub)
            code = E.ERR_SUBSCRIBE_STREAM_NOTFOUND if e.code == 428 else E.ERR_SUBSCRIBE_FAILED
            raise CodeError(code, e.reason, namespace="error_notice",
                            **self._fields(pub.key)) from None
        handle.on_event = lambda m: self._sub_event(room, sub, m)
        sub.watchdog = asyncio.create_task(self._subscribe_watchdog(room, sub))
        return {"subscriptionId": sub.id, "streamId": pub.key.stream_id, "jsep": offer,
                **self._fields(pub.key)}

    def _sub_event(self, room: MediaRoom, sub: Subscription, msg: Json) -> None:
        if room.subs.get(sub.id) is not sub:
            return
        kind = msg.get("janus")
        if kind == "webrtcup" and not sub.flowing:
            sub.flowing = True
            self._spawn(self._notice(room.serial, sub.userid, "info",
                                     I.INFO_SUBSCRIBE_COMPLETED, subscriptionId=sub.id,
                                     streamId=sub.pub.key.stream_id, **self._fields(sub.pub.key)))
        elif kind == "hangup":
            self._spawn(self._sub_failed(room, sub, E.ERR_SUBSCRIBE_FAILED,
                                         str(msg.get("reason", "hangup"))))

    async def _subscribe_watchdog(self, room: MediaRoom, sub: Subscription) -> None:
        await asyncio.sleep(self.subscribe_timeout)
        if not sub.flowing:
            await self._sub_failed(room, sub, E.ERR_SUBSCRIBE_TIMEOUT,
                                   f"no media within {self.subscribe_timeout:g} s")

    async def _sub_failed(self, room: MediaRoom, sub: Subscription, code: int, why: str) -> None:
        if room.subs.get(sub.id) is not sub:
            return
        await self._drop_sub(room, sub)
        await self._notice(room.serial, sub.userid, "error", code,
                           f"{codes.describe('error_notice', code)}: {why}",
                           subscriptionId=sub.id, streamId=sub.pub.key.stream_id,
                           **self._fields(sub.pub.key))

    async def _drop_sub(self, room: MediaRoom, sub: Subscription) -> None:
        if room.subs.pop(sub.id, None) is sub and room.server is not None:
            room.server.load -= 1
        if sub.watchdog is not None and sub.watchdog is not asyncio.current_task():
            sub.watchdog.cancel()
        sub.handle.on_event = None
        await sub.handle.detach()

    async def _ev_signaling_message(self, serial: str, userid: str, role: int, d: Json) -> Json:
        """An answer to a subscription offer (``jsep``), or a trickled ICE ``candidate``."""
        room = await self._room(serial)
        sid = str(d.get("id") or d.get("subscriptionId") or d.get("streamId") or "")
        sub = room.subs.get(sid)
        pub = room.pubs.get(sid)
        handle = sub.handle if sub and sub.userid == userid else \
            pub.handle if pub and pub.key.userid == userid else None
        if handle is None:
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, f"no stream or subscription {sid!r}",
                            namespace="error_notice")
        try:
            if "candidate" in d:
                await handle.trickle(d["candidate"])
            jsep = d.get("jsep")
            if isinstance(jsep, dict) and sub is not None:
                if jsep.get("type") != "answer":
                    raise CodeError(103, "a subscription needs an SDP answer",
                                    namespace="error_notice")
                await handle.message({"request": "start"}, jsep, within=self.subscribe_timeout)
        except TimeoutError:
            raise CodeError(E.ERR_SUBSCRIBE_TIMEOUT, namespace="error_notice") from None
        except JanusError as e:
            if sub is not None:
                await self._drop_sub(room, sub)
            raise CodeError(E.ERR_SUBSCRIBE_FAILED, e.reason, namespace="error_notice") from None
        return {}

    async def _ev_unsubscribe(self, serial: str, userid: str, role: int, d: Json) -> Json:
        room = await self._room(serial)
        sub = room.subs.get(str(d.get("subscriptionId") or d.get("id") or ""))
        if sub is None or sub.userid != userid:
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, "no such subscription",
                            namespace="error_notice")
        await self._drop_sub(room, sub)
        return {}

    # ---- room-wide switches ----------------------------------------------------------------

    async def on_saved_message(self, serial: str, msg: dict[str, Any]) -> None:
        """A saved message appeared: ``OnlyAudioRoom`` and ``ClassBegin`` concern media."""
        name = msg.get("name") or msg.get("id")
        if name == "OnlyAudioRoom":
            await self.set_audio_only(serial, True)
        elif name == "ClassBegin" and isinstance(msg.get("data"), dict) and \
                msg["data"].get("recordchat", msg["data"].get("record")):
            room = await self._known(serial)
            if room.recording is None:
                await self.start_recording(room)

    async def on_deleted_message(self, serial: str, msg: dict[str, Any]) -> None:
        """A saved message went away: audio-only ends, the class ends (recording stops)."""
        name = msg.get("name") or msg.get("id")
        if name == "OnlyAudioRoom":
            await self.set_audio_only(serial, False)
        elif name == "ClassBegin":
            room = self.rooms.get(serial)
            if room is not None and room.recording is not None:
                await self.stop_recording(room)

    async def set_audio_only(self, serial: str, on: bool) -> None:
        """Withdraw video (warning 1011) or invite it back (warning 1012)."""
        room = await self._known(serial)
        if room.audio_only == on:
            return
        room.audio_only = on
        if on:
            for pub in [p for p in room.pubs.values() if p.key.has_video]:
                room.withdrawn.setdefault(pub.key.userid, []).append(pub.key)
                await self._drop_pub(room, pub, announce=True)
                await self._notice(serial, pub.key.userid, "warn",
                                   W.WAR_UNPUBLISHVIDEO_BY_SWITCHAUDIOROOM, **self._fields(pub.key))
        else:
            withdrawn, room.withdrawn = room.withdrawn, {}
            for keys in withdrawn.values():
                for key in keys:
                    await self._notice(serial, key.userid, "warn",
                                       W.WAR_PUBLISHVIDEO_BY_SWITCHAUDIOVIDEOROOM, **self._fields(key))

    async def stage_changed(self, serial: str, userid: str, role: int, publishstate: int) -> None:
        """The teacher changed a user's ``publishstate``: withdraw what it no longer allows
        (the owner sees ``onRemoveStream`` with ``reason: "publishstate"`` and stops it)."""
        room = self.rooms.get(serial)
        if room is None:
            return
        for pub in [p for p in room.pubs.values() if p.key.userid == userid]:
            if not stage_allows(role, publishstate, pub.key):
                await self._drop_pub(room, pub, announce=True)
                if not pub.flowing:
                    continue
                await self.sink.to_user(serial, userid, "onRemoveStream",
                                        {**pub.describe(), "reason": "publishstate"})

    async def user_left(self, serial: str, userid: str) -> None:
        """Close everything a departed user published or subscribed to."""
        room = self.rooms.get(serial)
        if room is None:
            return
        for sub in [s for s in room.subs.values() if s.userid == userid]:
            await self._drop_sub(room, sub)
        for pub in [p for p in room.pubs.values() if p.key.userid == userid]:
            await self._drop_pub(room, pub, announce=True)
        room.withdrawn.pop(userid, None)

    # ---- recording ------------------------------------------------------------------------

    async def _ev_startServerRecord(self, serial: str, userid: str, role: int, d: Json) -> Json:
        if role not in SUPER_ROLES:
            raise CodeError(4108, "only the teacher or an assistant records the class")
        room = await self._room(serial)
        if room.recording is not None:
            raise CodeError(E.ERR_SERVER_RECORDED, namespace="error_notice")
        job = await self.start_recording(room)
        return {"recordId": job.id, "starttime": int(job.started * 1000)}

    async def _ev_stopServerRecord(self, serial: str, userid: str, role: int, d: Json) -> Json:
        if role not in SUPER_ROLES:
            raise CodeError(4108, "only the teacher or an assistant records the class")
        room = await self._room(serial)
        if room.recording is None:
            raise CodeError(E.ERR_SERVER_NOTRECORDED, namespace="error_notice")
        job = await self.stop_recording(room)
        return {"recordId": job.id}

    async def start_recording(self, room: MediaRoom) -> RecordingJob:
        job = RecordingJob(room.serial, self.record_dir / room.serial, started=time.time())
        job.folder.mkdir(parents=True, exist_ok=True)
        room.recording = job
        for pub in list(room.pubs.values()):
            pub.record_base = job.base_for(pub.key.stream_id)
            with contextlib.suppress(JanusError, TimeoutError):
                await pub.handle.message({"request": "configure", "record": True,
                                          "filename": self._rec_name(pub.record_base)})
        return job

    def _rec_name(self, base: str) -> str:
        """Janus wants the file name relative to the room's ``rec_dir``."""
        return os.path.relpath(base, self.record_dir)

    async def stop_recording(self, room: MediaRoom) -> RecordingJob:
        """Stop Janus's recorders; turn the .mjr files into playable files in the background."""
        job, room.recording = room.recording, None
        assert job is not None
        for pub in list(room.pubs.values()):
            if pub.record_base:
                with contextlib.suppress(JanusError, TimeoutError):
                    await pub.handle.message({"request": "configure", "record": False})
                job.stopped(pub.record_base)
                pub.record_base = ""
        job.ended = time.time()
        task = asyncio.create_task(job.process(self.records))
        self.postprocessing.add(task)
        task.add_done_callback(self.postprocessing.discard)
        return job

    # ---- servers --------------------------------------------------------------------------

    async def _ev_requestServerList(self, serial: str, userid: str, role: int, d: Json) -> Json:
        room = self.rooms.get(serial)
        current = room.server.id if room and room.server else None
        return {"servers": [s.public() for s in self.registry.servers.values()],
                "current": current}

    async def _ev_switchServerByName(self, serial: str, userid: str, role: int, d: Json) -> Json:
        if role not in SUPER_ROLES:
            raise CodeError(4108, "only the teacher or an assistant moves the room")
        name = str(d.get("serverName") or d.get("name") or "")
        target = self.registry.servers.get(name)
        if target is None or not target.healthy:
            raise CodeError(E.ERR_SWITCH_SERVER_FAILED, f"no healthy media server {name!r}",
                            namespace="error_notice")
        room = await self._room(serial)
        if room.server is not target:
            await self.move_room(room, target, reason="switchServerByName")
        return {"serverName": target.id}

    async def move_room(self, room: MediaRoom, target: MediaServer | None, reason: str) -> None:
        """Place the room on another server; clients republish and resubscribe by themselves."""
        old_session = room.session
        for pub in list(room.pubs.values()):
            await self._drop_pub(room, pub, announce=True)
        if old_session is not None:
            await old_session.destroy()
        room.server, room.session = None, None
        try:
            await self._place(room, target)
        except CodeError as e:
            log.warning("room %s has no media server now: %s", room.serial, e.message)
            await self.sink.to_room(room.serial, "mediaServerChanged",
                                    {"serverName": None, "reason": reason})
            return
        await self.sink.to_room(room.serial, "mediaServerChanged",
                                {"serverName": room.server.id, "reason": reason})

    async def _server_down(self, server: MediaServer) -> None:
        for room in [r for r in self.rooms.values() if r.server is server]:
            if any(s.healthy and s is not server for s in self.registry.servers.values()):
                await self.move_room(room, None, reason="mediaServerDown")
            else:
                await self._orphan(room)

    async def _orphan(self, room: MediaRoom) -> None:
        """No other server: forget the room's streams and wait for a server to come back."""
        for pub in list(room.pubs.values()):
            await self._drop_pub(room, pub, announce=True)
        room.server, room.session = None, None

    async def _server_up(self, server: MediaServer) -> None:
        for room in [r for r in self.rooms.values() if r.server is None and r.janus_room]:
            try:
                await self._place(room, server)
            except CodeError:
                continue
            await self.sink.to_room(room.serial, "mediaServerChanged",
                                    {"serverName": server.id, "reason": "mediaServerUp"})

    # ---- helpers --------------------------------------------------------------------------

    async def _notice(self, serial: str, userid: str, kind: str, code: int, msg: str = "",
                      **extra: Any) -> None:
        ns = {"error": "error_notice", "warn": "warning_notice", "info": "info_notice"}[kind]
        await self.sink.to_user(serial, userid, "notice", {
            "kind": kind, "code": int(code), "msg": msg or codes.describe(ns, int(code)), **extra})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.postprocessing.add(task)
        task.add_done_callback(self.postprocessing.discard)

    async def close(self) -> None:
        """Close every room's Janus session and wait for recordings being processed."""
        for room in self.rooms.values():
            for pub in list(room.pubs.values()):
                await self._drop_pub(room, pub, announce=False)
            if room.session is not None:
                await room.session.destroy()
        if self.postprocessing:
            await asyncio.gather(*self.postprocessing, return_exceptions=True)
