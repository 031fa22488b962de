"""The media service the signalling server calls: SDP brokering, limits, switches.

The signal server hands every media request (``MEDIA_EVENTS``) to ``MediaService.handle``
together with the caller's room, user id and role, and tells the service when a user leaves,
when the class's last member left (``release``) and when a saved message appears or goes
(``OnlyAudioRoom``, ``ClassBegin``). The service decides with the pure rules of
``media.rules``, talks to the room's VideoRoom (``media.videoroom``), answers with ack data or
raises ``CodeError``, and sends events and notices through the ``RoomSink`` it was given.
Placement and failover are ``media.failover``'s, recording ``media.recorder``'s. Clients never
see Janus's API.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from tkroom import codes
from tkroom.directory import RoomDirectory
from tkroom.errors import CodeError
from tkroom.media.failover import Failover, MediaRecords
from tkroom.media.janus_client import JanusError, JanusHandle, Json
from tkroom.media.layers import (
    LAYERS,
    LayerControl,
    SimulcastMode,
    Tuning,
    layer_number,
    simulcast_for,
)
from tkroom.media.model import MediaRoom, Publication, RemoteFeed, RoomSink, Subscription
from tkroom.media.placement import feed_display, may_carry, node_of, stream_of
from tkroom.media.recorder import Recorder
from tkroom.media.recording import RecordingJob, RecordSink
from tkroom.media.rules import (
    StreamKey,
    check_claim,
    check_publish,
    check_super,
    check_unpublish,
    requested_key,
    stage_allows,
)
from tkroom.media.servers import ServerRegistry
from tkroom.media.videoroom import NO_SUCH_FEED, VideoRoom
from tkroom.rooms.recording import LEASE_MS, RENEW_MS
from tkroom.state.memory import MemoryState
from tkroom.tasks import spawn

log = logging.getLogger(__name__)

E = codes.ErrorNotice
W = codes.WarningNotice
I = codes.InfoNotice  # noqa: E741

__all__ = ["MEDIA_EVENTS", "RECORDING_EVENT", "MediaService", "RoomSink"]

# told to every node of the class (``RoomSink.to_nodes``): a node started (``on``) or stopped
# the class's recording ``id``
RECORDING_EVENT = "_recording"


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """One media request: who asks, in which room, with what."""

    serial: str
    userid: str
    role: int
    data: Json
    publishstate: int | None = None
    session: str = ""


Handler = Callable[["MediaService", MediaRequest], Awaitable[Json]]


def _fields(key: StreamKey) -> dict[str, str]:
    return {"userId": key.userid, "type": key.type, "deviceId": key.device_id}


class MediaService:
    """Media for every room of this node. ``shared``: where the class's media room is
    recorded (the cluster's room state; a private in-memory one for a lone service)."""

    def __init__(self, registry: ServerRegistry, directory: RoomDirectory, sink: RoomSink, *,
                 record_dir: Path, records: RecordSink | None = None,
                 shared: MediaRecords | None = None,
                 publish_timeout: float = 10.0, subscribe_timeout: float = 10.0,
                 max_cameras: int = 3, simulcast: SimulcastMode = "auto",
                 layer_tuning: Tuning | None = None) -> None:
        self.registry = registry
        self.simulcast = simulcast
        self.layer_tuning = layer_tuning or Tuning()
        self.directory = directory
        self.sink = sink
        self.publish_timeout = publish_timeout
        self.subscribe_timeout = subscribe_timeout
        self.max_cameras = max_cameras
        self.rooms: dict[str, MediaRoom] = {}
        self.recorder = Recorder(record_dir, records)
        self.shared: MediaRecords = shared if shared is not None else MemoryState()
        self.failover = Failover(registry, directory, sink, self.rooms, self._drop_streams,
                                 record_dir=record_dir, records=self.shared)
        # this process's name as a recording's lease holder; the lease's timing
        self.node = secrets.token_hex(6)
        self.lease_ms, self.renew_ms = LEASE_MS, RENEW_MS
        self._leases: dict[str, asyncio.Task[None]] = {}
        self._finishers: set[asyncio.Task[None]] = set()

    @property
    def postprocessing(self) -> set[asyncio.Task[Any]]:
        """Recordings being turned into playable files."""
        return self.recorder.postprocessing

    # ---- dispatch -------------------------------------------------------------------------

    async def handle(self, ev: str, serial: str, userid: str, role: int,
                     data: dict[str, Any], publishstate: int | None = None,
                     session: str = "") -> dict[str, Any]:
        """Answer one media request (ack data), or raise ``CodeError``.

        ``publishstate`` is the caller's property (students publish only what it allows);
        ``None`` skips that check. ``session``: the caller's signalling session (what it
        publishes goes when a same-id join replaces that session).
        """
        handler = self.HANDLERS.get(ev)
        if handler is None:
            raise CodeError(103, f"unknown media request {ev!r}", namespace="error_notice")
        if not isinstance(data, dict):
            raise CodeError(103, "data must be an object", namespace="error_notice")
        return await handler(self, MediaRequest(serial, userid, role, data, publishstate,
                                                session))

    async def _known(self, serial: str) -> MediaRoom:
        """The room's media state, without placing it on a media server (room-wide switches
        are kept before anyone publishes; the first media request places the room)."""
        room = self.rooms.get(serial)
        if room is None:
            if await self.directory.room(serial) is None:
                raise CodeError(4007)
            room = self.rooms.setdefault(serial, MediaRoom(serial))
        return room

    async def _room(self, serial: str) -> MediaRoom:
        """The room, placed on a healthy media server."""
        room = await self._known(serial)
        async with room.lock:
            if room.server is None or not room.server.healthy:
                await self.failover.place(room)
        return room

    # ---- publishing -----------------------------------------------------------------------

    async def _publish(self, r: MediaRequest) -> Json:
        offer = r.data.get("jsep")
        if not isinstance(offer, dict) or offer.get("type") != "offer":
            raise CodeError(103, "publish needs an SDP offer in jsep", namespace="error_notice")
        key = requested_key(r.userid, r.data)
        info = await self.directory.room(r.serial)  # fresh: roommodify changes the limits
        if info is None:
            raise CodeError(4007)
        layered = "a=simulcast:" in str(offer.get("sdp", ""))
        if layered and not simulcast_for(info, self.simulcast, key.type):
            raise CodeError(103, f"this room takes {key.type} as one layer (no simulcast): "
                            "getStreams says when it does", namespace="error_notice")
        room = await self._room(r.serial)
        async with room.lock:
            remote = await self._remote(room)
            check_publish(info, r.role, key,
                          [p.key for p in room.pubs.values()] + [f.key for f in remote],
                          audio_only=room.audio_only, max_cameras=self.max_cameras,
                          publishstate=r.publishstate)
            videoroom = room.videoroom
            if videoroom is None:
                raise CodeError(E.ERR_PUBLISH_FAILED, "the room lost its media server",
                                namespace="error_notice", **_fields(key))
            # the room-wide limits, counted over every node of the class in one step
            check_claim(info, key, await self.shared.claim_stream(
                r.serial, key.stream_id, key.userid, key.has_video, key.has_audio,
                info.maxvideo, info.maxaudio))
            try:
                handle = await videoroom.attach()
            except BaseException as e:
                await self._release_claim(r.serial, key)
                if not isinstance(e, JanusError | TimeoutError):
                    raise
                raise CodeError(E.ERR_PUBLISH_FAILED, f"media server unavailable: {e}",
                                namespace="error_notice", **_fields(key)) from e
            pub = Publication(key, handle, feed=secrets.token_hex(8), simulcast=layered,
                              session=r.session)
            room.pubs[key.stream_id] = pub
            videoroom.server.load += 1
        try:
            answer = await videoroom.publish(
                handle, feed=pub.feed, display=feed_display(key.stream_id, layered, self.shared.node),
                offer=offer,
                audio=key.has_audio, video=key.has_video, record_file=self.recorder.file_for(room, pub),
                within=self.publish_timeout)
        except TimeoutError:
            await self._drop_pub(room, pub, announce=False)
            raise CodeError(E.ERR_PUBLISH_TIMEOUT, namespace="error_notice",
                            **_fields(key)) from None
        except JanusError as e:
            await self._drop_pub(room, pub, announce=False)
            raise CodeError(E.ERR_PUBLISH_FAILED, f"the media server refused the offer: "
                            f"{e.reason}", namespace="error_notice", **_fields(key)) from None
        pub.sdp = str(answer.get("sdp", ""))
        handle.on_event = lambda m: self._pub_event(room, pub, m)
        pub.watchdog = spawn(self._publish_watchdog(room, pub))
        return {"streamId": key.stream_id, "publicationId": pub.id, "jsep": answer}

    def _pub_event(self, room: MediaRoom, pub: Publication, msg: Json) -> None:
        """Janus's events on a publication: ``webrtcup`` makes it subscribable (announced with
        ``onAddStream``), ``media`` receiving completes it (2001), ``hangup`` fails it."""
        if room.pubs.get(pub.key.stream_id) is not pub:
            return
        kind = msg.get("janus")
        if kind == "webrtcup" and not pub.flowing:
            pub.flowing = True
            spawn(self.sink.to_room(room.serial, "onAddStream", pub.describe()))
        elif kind == "media" and msg.get("receiving") and not pub.completed:
            pub.completed = True
            spawn(self._notice(room.serial, pub.key.userid, "info", I.INFO_PUBLISH_COMPLETED,
                               publicationId=pub.id, **_fields(pub.key)))
        elif kind == "hangup":
            spawn(self._pub_failed(room, pub, E.ERR_PUBLISH_FAILED,
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
                           f"{codes.describe('error_notice', code)}: {why}",
                           publicationId=pub.id, **_fields(pub.key))

    async def _drop_pub(self, room: MediaRoom, pub: Publication, *, announce: bool) -> None:
        """Forget a publication (and its claim), close it in Janus, drop its subscribers, tell
        the room."""
        if room.pubs.get(pub.key.stream_id) is pub:
            # released before the stream leaves ``pubs``: whoever sees it gone may claim it
            await self._release_claim(room.serial, pub.key)
        if room.pubs.get(pub.key.stream_id) is pub:
            del room.pubs[pub.key.stream_id]
            if room.server is not None:
                room.server.load -= 1
        if pub.watchdog is not None and pub.watchdog is not asyncio.current_task():
            pub.watchdog.cancel()
        for sub in [s for s in room.subs.values() if s.pub is pub]:
            await self._drop_sub(room, sub)
        self.recorder.dropped(room, pub)
        pub.handle.on_event = None
        await pub.handle.detach()
        if announce and pub.flowing:
            await self.sink.to_room(room.serial, "onRemoveStream", pub.describe())

    async def _drop_streams(self, room: MediaRoom) -> None:
        """Remove every publication of the room (their subscriptions go with them) and the
        subscriptions to streams other nodes broker."""
        for pub in list(room.pubs.values()):
            await self._drop_pub(room, pub, announce=True)
        for sub in list(room.subs.values()):
            await self._drop_sub(room, sub)

    async def _unpublish(self, r: MediaRequest) -> Json:
        room = await self._room(r.serial)
        pub = room.pubs.get(str(r.data.get("streamId", "")))
        if pub is None:
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, namespace="error_notice")
        check_unpublish(r.role, r.userid, pub.key)
        attempt = r.data.get("publicationId")
        if attempt is not None and attempt != pub.id:
            # a client withdrawing an attempt it gave up on, which the stream's newer
            # publication replaced: that one stays
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, f"publication {attempt!r} of "
                            f"{pub.key.stream_id} was replaced", namespace="error_notice")
        await self._drop_pub(room, pub, announce=True)
        return {}

    async def _get_streams(self, r: MediaRequest) -> Json:
        """The flowing streams, and whether this room takes cameras as simulcast (the SDK
        asks once after joining, before it publishes)."""
        info = await self.directory.room(r.serial)
        if info is None:
            raise CodeError(4007)
        room = await self._room(r.serial)
        remote = await self._remote(room)
        return {"streams": [p.describe() for p in room.pubs.values() if p.flowing] +
                [f.describe() for f in remote],
                "simulcast": simulcast_for(info, self.simulcast, "video")}

    async def _remote(self, room: MediaRoom) -> list[RemoteFeed]:
        """The streams other nodes of the cluster publish into the class's VideoRoom (Janus
        lists the feeds; the node named each after its stream), kept in ``room.remote`` so
        that their subscriptions here can be dropped when they go."""
        videoroom = room.videoroom
        if videoroom is None:
            return []
        try:
            feeds = await videoroom.publishers()
        except (JanusError, TimeoutError):
            return list(room.remote.values())
        mine = {p.feed for p in room.pubs.values()}
        seen: dict[str, RemoteFeed] = {}
        for feed, display in feeds:
            parts = stream_of(display)
            if feed in mine or parts is None:
                continue
            key = StreamKey(*parts[:3])
            old = room.remote.get(key.stream_id)
            seen[key.stream_id] = old if old is not None and old.feed == feed else \
                RemoteFeed(key, feed, simulcast=parts[3], node=node_of(display))
        played = {id(s.pub) for s in room.subs.values()}
        # a feed no longer listed but still played here stays until its onRemoveStream
        room.remote = {**{k: f for k, f in room.remote.items() if id(f) in played}, **seen}
        return list(seen.values())

    async def remote_gone(self, serial: str, stream_id: str, publication: str = "") -> None:
        """Another node announced ``onRemoveStream``: drop this node's subscriptions to it
        (only to that ``publication`` when named: a newer one of the stream stays)."""
        room = self.rooms.get(serial)
        pub = room.remote.get(stream_id) if room is not None else None
        if room is None or pub is None or (publication and publication != pub.id):
            return
        del room.remote[stream_id]
        for sub in [s for s in room.subs.values() if s.pub is pub]:
            await self._drop_sub(room, sub)

    async def follow(self, serial: str) -> None:
        """``mediaServerChanged``: follow the class to the media room the cluster moved it to."""
        room = self.rooms.get(serial)
        if room is not None:
            await self.failover.follow(room)

    # ---- subscribing ----------------------------------------------------------------------

    async def _subscribe(self, r: MediaRequest) -> Json:
        preferred = layer_number(r.data.get("layer", "high"))
        room = await self._room(r.serial)
        wanted = str(r.data.get("streamId", ""))
        pub: Publication | RemoteFeed | None = room.pubs.get(wanted)
        if pub is None:  # brokered by another node of the cluster?
            pub = next((p for p in await self._remote(room) if p.key.stream_id == wanted), None)
        if pub is None or not pub.flowing:  # announced with onAddStream once it flows
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, namespace="error_notice",
                            streamId=r.data.get("streamId"))
        videoroom = room.videoroom
        if videoroom is None:
            raise CodeError(E.ERR_SUBSCRIBE_FAILED, "the room lost its media server",
                            namespace="error_notice", **_fields(pub.key))
        try:
            handle = await videoroom.attach()
        except (JanusError, TimeoutError) as e:
            raise CodeError(E.ERR_SUBSCRIBE_FAILED, str(e), namespace="error_notice",
                            **_fields(pub.key)) from e
        # a user whose link was capped starts new subscriptions there (and is tried up later),
        # not at the top layer that congested it before
        sub = Subscription(f"sub-{secrets.token_hex(8)}", r.userid, pub, handle,
                           layers=LayerControl(preferred=preferred,
                                               cap=room.link_caps.get(r.userid, 2),
                                               tuning=self.layer_tuning),
                           session=r.session)
        room.subs[sub.id] = sub
        videoroom.server.load += 1
        try:
            offer, sub.video_mids = await videoroom.subscribe(
                handle, pub.feed, within=self.subscribe_timeout,
                substream=sub.layers.current if pub.simulcast else None)
        except TimeoutError:
            await self._drop_sub(room, sub)
            raise CodeError(E.ERR_SUBSCRIBE_TIMEOUT, namespace="error_notice",
                            **_fields(pub.key)) from None
        except JanusError as e:
            await self._drop_sub(room, sub)
            code = E.ERR_SUBSCRIBE_STREAM_NOTFOUND if e.code == NO_SUCH_FEED \
                else E.ERR_SUBSCRIBE_FAILED
            raise CodeError(code, e.reason, namespace="error_notice",
                            **_fields(pub.key)) from None
        handle.on_event = lambda m: self._sub_event(room, sub, m)
        sub.watchdog = spawn(self._subscribe_watchdog(room, sub))
        if pub.simulcast and sub.layers.next_probe() is not None:
            sub.layers.changed_at = asyncio.get_running_loop().time()
            sub.prober = spawn(self._probe_up(room, sub))
        return {"subscriptionId": sub.id, "streamId": pub.key.stream_id,
                "publicationId": pub.id, "jsep": offer,
                "layer": LAYERS[sub.layers.current] if pub.simulcast else None,
                **_fields(pub.key)}

    def _sub_event(self, room: MediaRoom, sub: Subscription, msg: Json) -> None:
        """Janus's events on a subscription: ``webrtcup`` completes it (2002), ``hangup``
        fails it."""
        if room.subs.get(sub.id) is not sub:
            return
        kind = msg.get("janus")
        if kind == "webrtcup" and not sub.flowing:
            sub.flowing = True
            spawn(self._notice(room.serial, sub.userid, "info", I.INFO_SUBSCRIBE_COMPLETED,
                               subscriptionId=sub.id, streamId=sub.pub.key.stream_id,
                               **_fields(sub.pub.key)))
        elif kind == "hangup":
            spawn(self._sub_failed(room, sub, E.ERR_SUBSCRIBE_FAILED,
                                   str(msg.get("reason", "hangup"))))
        elif sub.pub.simulcast and (
                (kind == "slowlink" and msg.get("uplink") and msg.get("media") != "audio") or
                msg.get("plugindata", {}).get("data", {}).get("videoroom") == "slow_link"):
            # Janus's "uplink" is its own: packets it sends this subscriber are being lost
            self._slow_link(room, sub)

    # ---- simulcast layers -----------------------------------------------------------------

    def _slow_link(self, room: MediaRoom, sub: Subscription) -> None:
        """The subscriber's link loses packets: one layer down, and try back up later."""
        loop = asyncio.get_running_loop()
        lower = sub.layers.slow_link(loop.time())
        if lower is None:
            return
        spawn(self._apply_layer(room, sub, "slow_link"))
        if sub.prober is None or sub.prober.done():
            sub.prober = spawn(self._probe_up(room, sub))

    async def _probe_up(self, room: MediaRoom, sub: Subscription) -> None:
        """While the subscription is capped below its preference, try one layer up each
        time the quiet period has passed (a slow_link meanwhile restarts the wait)."""
        loop = asyncio.get_running_loop()
        while room.subs.get(sub.id) is sub and (wait := sub.layers.next_probe()) is not None:
            await asyncio.sleep(max(0.05, sub.layers.changed_at + wait - loop.time()))
            if sub.layers.probe(loop.time()) is not None:
                await self._apply_layer(room, sub, "recovered")

    async def _apply_layer(self, room: MediaRoom, sub: Subscription, reason: str) -> None:
        """Tell Janus the subscription's current layer, and the subscriber why."""
        layer = sub.layers.current
        if reason != "request":
            room.link_caps[sub.userid] = sub.layers.cap
        try:
            await VideoRoom.set_substream(sub.handle, sub.video_mids, layer,
                                          within=self.subscribe_timeout)
        except (JanusError, TimeoutError) as e:
            log.warning("layer change of %s failed: %s", sub.id, e)
            return
        if room.subs.get(sub.id) is sub:
            await self.sink.to_user(room.serial, sub.userid, "onVideoLayer", {
                "subscriptionId": sub.id, "streamId": sub.pub.key.stream_id,
                "layer": LAYERS[layer], "preferred": LAYERS[sub.layers.preferred],
                "reason": reason, **_fields(sub.pub.key)})

    async def _set_video_layer(self, r: MediaRequest) -> Json:
        """A subscriber asks for a layer (``high`` for a large tile, ``low`` for a
        thumbnail); its link may still hold it lower."""
        layer = layer_number(r.data.get("layer"))
        room = await self._room(r.serial)
        sid = str(r.data.get("subscriptionId") or "")
        sub = room.subs.get(sid) if sid else next(
            (s for s in room.subs.values() if s.userid == r.userid and
             s.pub.key.stream_id == r.data.get("streamId")), None)
        if sub is None or sub.userid != r.userid:
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, "no such subscription",
                            namespace="error_notice")
        if not sub.pub.simulcast:
            return {"subscriptionId": sub.id, "layer": None}
        before = sub.layers.current
        sub.layers.prefer(layer)
        if sub.layers.current != before:
            await self._apply_layer(room, sub, "request")
        if sub.layers.next_probe() is not None and (sub.prober is None or sub.prober.done()):
            sub.prober = spawn(self._probe_up(room, sub))
        return {"subscriptionId": sub.id, "layer": LAYERS[sub.layers.current]}

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
                           **_fields(sub.pub.key))

    async def _drop_sub(self, room: MediaRoom, sub: Subscription) -> None:
        if room.subs.pop(sub.id, None) is sub and room.server is not None:
            room.server.load -= 1
        for task in (sub.watchdog, sub.prober):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        sub.handle.on_event = None
        await sub.handle.detach()

    async def _signaling_message(self, r: MediaRequest) -> Json:
        """An answer to a subscription offer (``jsep``), or a trickled ICE ``candidate``."""
        room = await self._room(r.serial)
        d = r.data
        sid = str(d.get("id") or d.get("subscriptionId") or d.get("streamId") or "")
        sub = room.subs.get(sid)
        pub = room.pubs.get(sid)
        handle: JanusHandle | None = sub.handle if sub and sub.userid == r.userid else \
            pub.handle if pub and pub.key.userid == r.userid else None
        if handle is None:
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, f"no stream or subscription {sid!r}",
                            namespace="error_notice")
        jsep = d.get("jsep")
        if isinstance(jsep, dict) and sub is not None and jsep.get("type") != "answer":
            raise CodeError(103, "a subscription needs an SDP answer", namespace="error_notice")
        try:
            if "candidate" in d:
                await VideoRoom.trickle(handle, d["candidate"])
            if isinstance(jsep, dict) and sub is not None:
                await VideoRoom.start(handle, jsep, within=self.subscribe_timeout)
                if sub.pub.simulcast and sub.layers.current != 2:
                    # Janus 1.1 starts a subscription on the top layer whatever the join said
                    await VideoRoom.set_substream(handle, sub.video_mids, sub.layers.current,
                                                  within=self.subscribe_timeout)
        except TimeoutError:
            raise CodeError(E.ERR_SUBSCRIBE_TIMEOUT, namespace="error_notice") from None
        except JanusError as e:
            if sub is not None:
                await self._drop_sub(room, sub)
            raise CodeError(E.ERR_SUBSCRIBE_FAILED, e.reason, namespace="error_notice") from None
        return {}

    async def _unsubscribe(self, r: MediaRequest) -> Json:
        room = await self._room(r.serial)
        sub = room.subs.get(str(r.data.get("subscriptionId") or r.data.get("id") or ""))
        if sub is None or sub.userid != r.userid:
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, "no such subscription",
                            namespace="error_notice")
        await self._drop_sub(room, sub)
        return {}

    # ---- room-wide switches, members leaving ----------------------------------------------

    async def on_saved_message(self, serial: str, msg: dict[str, Any]) -> None:
        """A saved message appeared: ``OnlyAudioRoom`` and ``ClassBegin`` concern media."""
        name = msg.get("name") or msg.get("id")
        if name == "OnlyAudioRoom":
            await self.set_audio_only(serial, True)
        elif name == "ClassBegin" and isinstance(msg.get("data"), dict) and \
                msg["data"].get("recordchat", msg["data"].get("record")):
            await self._join(await self._known(serial), new=True)

    async def on_deleted_message(self, serial: str, msg: dict[str, Any]) -> None:
        """A saved message went away: audio-only ends, the class ends (recording stops)."""
        name = msg.get("name") or msg.get("id")
        if name == "OnlyAudioRoom":
            await self.set_audio_only(serial, False)
        elif name == "ClassBegin":
            room = self.rooms.get(serial)
            if room is not None:
                await self._leave(room)

    async def set_audio_only(self, serial: str, on: bool) -> None:
        """Withdraw video (warning 1011) or invite it back (warning 1012)."""
        room = await self._known(serial) if on else self.rooms.get(serial)
        if room is None or room.audio_only == on:
            return
        room.audio_only = on
        if on:
            for pub in [p for p in room.pubs.values() if p.key.has_video]:
                room.withdrawn.setdefault(pub.key.userid, []).append(pub.key)
                await self._drop_pub(room, pub, announce=True)
                await self._notice(serial, pub.key.userid, "warn",
                                   W.WAR_UNPUBLISHVIDEO_BY_SWITCHAUDIOROOM, **_fields(pub.key))
        else:
            withdrawn, room.withdrawn = room.withdrawn, {}
            for keys in withdrawn.values():
                for key in keys:
                    await self._notice(serial, key.userid, "warn",
                                       W.WAR_PUBLISHVIDEO_BY_SWITCHAUDIOVIDEOROOM, **_fields(key))

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

    async def user_left(self, serial: str, userid: str, session: str = "") -> None:
        """Close everything a departed user published or subscribed to: only what its
        ``session`` opened when given (a same-id join replaced that session and may already
        publish anew), everything the user holds otherwise."""
        room = self.rooms.get(serial)
        if room is None:
            return

        def gone(uid: str, sess: str) -> bool:
            return uid == userid and (not session or not sess or sess == session)
        for sub in [s for s in room.subs.values() if gone(s.userid, s.session)]:
            await self._drop_sub(room, sub)
        for pub in [p for p in room.pubs.values() if gone(p.key.userid, p.session)]:
            await self._drop_pub(room, pub, announce=True)
        room.withdrawn.pop(userid, None)
        room.link_caps.pop(userid, None)

    async def release(self, serial: str) -> None:
        """The class's last member left (on every node): stop its recording here, close this
        node's part of its VideoRoom and forget it (the next media request starts afresh,
        with the room's current settings). One node of the cluster gets the shared record
        back (``release_media_room``: only once nobody is left) and destroys the VideoRoom."""
        room = self.rooms.get(serial)
        if room is not None:
            async with room.lock:
                await self._leave(room)
                await self._teardown(room)
        rec = await self.shared.release_media_room(serial)
        if rec is not None:
            await self.shared.release_streams(serial)     # nobody left: no claim may stay
        server = self.registry.servers.get(str(rec["server"])) if rec is not None else None
        if rec is not None and server is not None:
            await VideoRoom.destroy_room(server, str(rec["room"]))
        if room is not None and self.rooms.get(serial) is room:
            del self.rooms[serial]

    async def _teardown(self, room: MediaRoom) -> None:
        for sub in list(room.subs.values()):
            await self._drop_sub(room, sub)
        for pub in list(room.pubs.values()):
            await self._drop_pub(room, pub, announce=False)
        room.remote.clear()
        videoroom, room.videoroom = room.videoroom, None
        if videoroom is not None:
            await videoroom.leave()

    # ---- recording ------------------------------------------------------------------------

    # A class's recording is one record in the shared state (``claim_recording``): every node
    # with the class's media records its own publications into it, and the node holding its
    # lease writes the event log and ends it; another takes the lease over when it lapses.

    async def _start_record(self, r: MediaRequest) -> Json:
        check_super(r.role, "records the class")
        room = await self._room(r.serial)
        if room.recording is not None or await self.shared.recording(r.serial) is not None:
            raise CodeError(E.ERR_SERVER_RECORDED, namespace="error_notice")
        job, made = await self._join(room, new=True)
        if job is None or not made:  # another node started it meanwhile
            raise CodeError(E.ERR_SERVER_RECORDED, namespace="error_notice")
        await self.sink.to_nodes(r.serial, RECORDING_EVENT, {"id": job.id, "on": True})
        return {"recordId": job.id, "starttime": int(job.started * 1000)}

    async def _stop_record(self, r: MediaRequest) -> Json:
        check_super(r.role, "records the class")
        room = await self._room(r.serial)
        rec = await self.shared.recording(r.serial)
        if rec is None:
            raise CodeError(E.ERR_SERVER_NOTRECORDED, namespace="error_notice")
        await self._leave(room)
        await self.sink.to_nodes(r.serial, RECORDING_EVENT, {"id": rec["id"], "on": False})
        await self._ended(r.serial, rec["id"])
        return {"recordId": rec["id"]}

    async def _ended(self, serial: str, rec_id: str) -> None:
        """Wait until the recording's holder ended it (another node, told by an event: no
        reply comes back), or this node did, taking over from a dead holder: a lease and
        more."""
        for _ in range((self.lease_ms + 2 * self.renew_ms) // 50):
            rec = await self.shared.recording(serial)
            if rec is None or rec["id"] != rec_id:
                return
            await asyncio.sleep(0.05)

    async def join_recording(self, serial: str) -> None:
        """Record this node's publications into the class's recording, if it has one."""
        if await self.shared.recording(serial) is not None:
            await self._join(await self._known(serial), new=False)

    async def leave_recording(self, serial: str, rec_id: str) -> None:
        """The class's recording ``rec_id`` stopped: stop this node's part of it."""
        room = self.rooms.get(serial)
        if room is not None and room.recording is not None and room.recording.id == rec_id:
            await self._leave(room)

    async def _join(self, room: MediaRoom, *, new: bool) -> tuple[RecordingJob | None, bool]:
        """Join the class's recording (made now when there is none and ``new``): the job
        and whether this call made the recording."""
        async with room.rec_lock:
            rec, taken = await self.shared.claim_recording(
                room.serial, self.node, _now_ms(), self.lease_ms,
                secrets.token_hex(8) if new else "")
            if rec is None:
                return None, False
            job = room.recording
            if job is not None and job.id == rec["id"]:
                return job, False
            if job is not None:  # an older recording that ended without this node knowing
                await self._stop_here(room, job)
            job = RecordingJob(room.serial, self.recorder.record_dir / room.serial / rec["id"],
                               started=rec["started_ms"] / 1000, id=rec["id"], node=self.node,
                               holder=rec["holder"] == self.node, segment=rec["segment"],
                               previous=rec["previous"])
            await self.recorder.start(room, job)
            self._leases[room.serial] = spawn(self._keep(room, job),
                                              name=f"recording-lease-{room.serial}")
            return job, taken and rec["segment"] == 1

    async def _leave(self, room: MediaRoom) -> None:
        """The class's recording stops: this node's recorders stop; its holder ends the
        shared record and queues the outputs; another node watches, to end it itself if the
        holder died (``_finish``)."""
        async with room.rec_lock:
            job = room.recording
            if job is not None:
                await self._stop_here(room, job)

    async def _stop_here(self, room: MediaRoom, job: RecordingJob) -> None:
        task = self._leases.pop(room.serial, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if job.holder:
            rec = await self.shared.recording(room.serial)
            job.holder = rec is not None and rec["id"] == job.id and \
                rec["holder"] == self.node and \
                await self.shared.end_recording(room.serial, job.id) is not None
        await self.recorder.stop(room)
        if not job.holder:
            self._watch(self._finish(room.serial, job))

    def _watch(self, coro: Any) -> None:
        task = spawn(coro)
        self._finishers.add(task)
        task.add_done_callback(self._finishers.discard)

    async def _keep(self, room: MediaRoom, job: RecordingJob) -> None:
        """While this node records ``job``: its holder renews the lease (and puts the record
        back when the state lost it: a Redis restart); another node takes the recording over
        when the lease lapsed. The recording's end reaches every node as an event
        (``ClassBegin`` deleted, ``_recording``); a node that missed it stops once the record
        has been gone for a whole lease."""
        gone_since = 0
        while room.recording is job:
            await asyncio.sleep(self.renew_ms / 1000)
            try:
                now = _now_ms()
                if job.holder and await self.shared.renew_recording(
                        room.serial, self.node, job.id, now, self.lease_ms):
                    continue
                rec = await self.shared.recording(room.serial)
                if rec is None and job.holder:
                    await self.shared.claim_recording(room.serial, self.node,
                                                      int(job.started * 1000), 0, job.id)
                    await self.shared.renew_recording(room.serial, self.node, job.id, now,
                                                      self.lease_ms)
                    continue
                if rec is None or rec["id"] != job.id:
                    gone_since = gone_since or now
                    if now - gone_since >= self.lease_ms:
                        job.holder = False
                        spawn(self.leave_recording(room.serial, job.id))
                        return
                    continue
                gone_since = 0
                if job.holder:
                    log.warning("recording %s: the lease went to %s", job.id, rec["holder"])
                    job.holder = False
                elif rec["lease_until"] < now and await self._take_over(room.serial, job):
                    await self.recorder.held(job)
            except Exception:
                log.exception("recording %s: the lease not kept", job.id)

    async def _take_over(self, serial: str, job: RecordingJob) -> bool:
        """Claim ``job``'s lapsed lease: whether this node holds it now."""
        rec, taken = await self.shared.claim_recording(serial, self.node, _now_ms(),
                                                       self.lease_ms, "")
        if not taken or rec is None or rec["id"] != job.id:
            return False
        log.info("recording %s taken over from %s (segment %d)", job.id, rec["previous"],
                 rec["segment"])
        job.holder, job.segment, job.previous = True, rec["segment"], rec["previous"]
        return True

    async def _finish(self, serial: str, job: RecordingJob) -> None:
        """This node stopped its part of ``job``, which another node holds: if that holder
        dies before ending it, take it over to end it (one job queued)."""
        while True:
            await asyncio.sleep(self.renew_ms / 1000)
            try:
                rec = await self.shared.recording(serial)
                if rec is None or rec["id"] != job.id:
                    return
                if rec["lease_until"] < _now_ms() and await self._take_over(serial, job):
                    await self.shared.end_recording(serial, job.id)
                    await self.recorder.finish(job)
                    return
            except Exception:
                log.exception("recording %s: not ended", job.id)

    # ---- servers --------------------------------------------------------------------------

    async def _server_list(self, r: MediaRequest) -> Json:
        """The servers the class may use (another enterprise's are never shown)."""
        info = await self.directory.room(r.serial)
        if info is None:
            raise CodeError(4007)
        room = self.rooms.get(r.serial)
        current = room.server.id if room and room.server else None
        return {"servers": [s.public() for s in self.registry.servers.values()
                            if may_carry(s, info.companyid)], "current": current}

    async def _switch_server(self, r: MediaRequest) -> Json:
        check_super(r.role, "moves the room")
        name = str(r.data.get("serverName") or r.data.get("name") or "")
        target = self.registry.servers.get(name)
        info = await self.directory.room(r.serial)
        if info is None:
            raise CodeError(4007)
        if target is None or not target.healthy or not may_carry(target, info.companyid):
            raise CodeError(E.ERR_SWITCH_SERVER_FAILED, f"no healthy media server {name!r}",
                            namespace="error_notice")
        room = await self._room(r.serial)
        if room.server is not target:
            await self.failover.move(room, target, reason="switchServerByName")
        return {"serverName": target.id}

    HANDLERS: ClassVar[dict[str, Handler]] = {
        "publish": _publish,
        "unpublish": _unpublish,
        "subscribe": _subscribe,
        "unsubscribe": _unsubscribe,
        "signaling_message": _signaling_message,
        "getStreams": _get_streams,
        "setVideoLayer": _set_video_layer,
        "requestServerList": _server_list,
        "switchServerByName": _switch_server,
        "startServerRecord": _start_record,
        "stopServerRecord": _stop_record,
    }

    # ---- helpers --------------------------------------------------------------------------

    async def _release_claim(self, serial: str, key: StreamKey) -> None:
        """Give the stream's place back to the room; a failure (the state unreachable for
        longer than its retries) is logged, and the claim goes with this node, or with the
        room once nobody is left."""
        try:
            await self.shared.release_stream(serial, key.stream_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not release the claim of %s in %s", key.stream_id, serial)

    async def _notice(self, serial: str, userid: str, kind: str, code: int, msg: str = "",
                      **extra: Any) -> None:
        ns = {"error": "error_notice", "warn": "warning_notice", "info": "info_notice"}[kind]
        await self.sink.to_user(serial, userid, "notice", {
            "kind": kind, "code": int(code), "msg": msg or codes.describe(ns, int(code)), **extra})

    async def close(self) -> None:
        """Close every room's VideoRoom and wait for recordings being processed."""
        for task in [*self._leases.values(), *self._finishers]:
            task.cancel()
        for room in list(self.rooms.values()):
            await self._teardown(room)
        await self.recorder.close()


MEDIA_EVENTS = frozenset(MediaService.HANDLERS)


def _now_ms() -> int:
    """The lease's clock: wall-clock ms, which the nodes of a cluster share (NTP)."""
    return int(time.time() * 1000)
