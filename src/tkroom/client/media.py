"""The Python SDK's media side (aiortc): publish and play audio, video, screen and files.

``MediaClient`` speaks the media requests of the signalling protocol through a ``request``
function (the SDK's signalling connection) and is fed the server's media events through
``dispatch``. It retries publications and subscriptions by itself after a failure or timeout,
up to ``max_reconnect`` times (``None``: without limit); past that it gives up with error
134 and warning 1013/1014. A call that fails outright raises 2526 (publish), 2527
(unpublish), 2528 (subscribe) or 2529 (unsubscribe), ``reason`` naming the server's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceGatherer,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer, MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from av import AudioFrame, VideoFrame

from tkroom import codes
from tkroom.client.sources import (
    AudioProfile,
    PatternTrack,
    ToneTrack,
    VideoProfile,
    WatchedTrack,
    device_error,
    open_player,
    open_screen,
    player_track,
)
from tkroom.errors import CodeError
from tkroom.tasks import spawn

log = logging.getLogger(__name__)

Request = Callable[[str, dict[str, Any]], Awaitable[Any]]
NoticeCallback = Callable[[dict[str, Any]], None]
Frame = VideoFrame | AudioFrame

PUBLISH_FAILED, UNPUBLISH_FAILED, SUBSCRIBE_FAILED, UNSUBSCRIBE_FAILED = 2526, 2527, 2528, 2529
RETRY_PUBLISH = frozenset((131, 132))
RETRY_SUBSCRIBE = frozenset((141, 142))
NO_MEDIA_SERVER = 151
E, W = codes.ErrorNotice, codes.WarningNotice


class Retry(Exception):
    """One attempt failed in a way the SDK retries (``code`` 131/132/141/142)."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


def _fail(call_code: int, reason: CodeError) -> CodeError:
    return CodeError(call_code, f"{codes.describe('sdk', call_code)}: {reason.message}",
                     namespace="sdk", reason=reason.code, **reason.extra)


def _urls(entry: dict[str, Any]) -> list[str]:
    urls = entry.get("urls")
    return [urls] if isinstance(urls, str) else [u for u in urls or [] if isinstance(u, str)]


def ice_servers_for(ice_servers: list[dict[str, Any]] | None,
                    turn_choice: int = 0) -> list[RTCIceServer]:
    """getconfig's ``iceServers`` for aiortc, the URL ``turn_choice`` first in each entry
    (aiortc uses only the first TURN URL it is given)."""
    servers = []
    for entry in ice_servers or []:
        urls = _urls(entry)
        if not urls:
            continue
        k = turn_choice % len(urls)
        servers.append(RTCIceServer(urls=urls[k:] + urls[:k], username=entry.get("username"),
                                    credential=entry.get("credential")))
    return servers


def new_peer(ice_servers: list[dict[str, Any]] | None = None, *, turn_choice: int = 0,
             policy: str = "all") -> RTCPeerConnection:
    """A PeerConnection reaching the media server directly, or through the TURN servers of
    getconfig's ``iceServers`` (never a public STUN server).

    ``turn_choice`` rotates which TURN URL comes first: the SDK starts with the first one
    that gives a relay address (``choose_turn``) and moves to the next (UDP, then TCP, then
    TLS) after an attempt that could not connect. ``policy="relay"``: TURN candidates only."""
    return RTCPeerConnection(RTCConfiguration(
        iceServers=ice_servers_for(ice_servers, turn_choice),
        iceTransportPolicy=RTCIceTransportPolicy(policy)))


async def _relay_reachable(ice_servers: list[dict[str, Any]], turn_choice: int) -> bool:
    """Whether the TURN URL ``turn_choice`` allocates us a relay address."""
    gatherer = RTCIceGatherer(ice_servers_for(ice_servers, turn_choice),
                              RTCIceTransportPolicy.RELAY)
    try:
        await gatherer.gather()
        return any(c.type == "relay" for c in gatherer.getLocalCandidates())
    finally:
        await gatherer._connection.close()


async def choose_turn(ice_servers: list[dict[str, Any]], turn_choice: int = 0) -> int:
    """The first TURN URL, from ``turn_choice`` on, that allocates a relay address.

    aiortc tries one TURN URL per PeerConnection; on a network that lets only TCP out, the
    UDP URL would cost a whole failed attempt (the publish timeout, then a retry). All URLs
    are tried side by side (a blocked one gives up after aioice's 5 s), and the earliest
    that works wins; none working leaves ``turn_choice`` (a direct path may still exist)."""
    n = max((len(_urls(e)) for e in ice_servers), default=0)
    if n < 2:
        return turn_choice
    order = [(turn_choice + k) % n for k in range(n)]
    probes = [asyncio.ensure_future(_relay_reachable(ice_servers, c)) for c in order]
    try:
        for choice, probe in zip(order, probes, strict=True):
            with contextlib.suppress(Exception):
                if await probe:
                    return choice
        return turn_choice
    finally:
        for probe in probes:
            probe.cancel()
        await asyncio.gather(*probes, return_exceptions=True)


async def answer_as_dtls_server(pc: RTCPeerConnection, offer: dict[str, Any]) -> dict[str, Any]:
    """Answer a media server's offer taking the DTLS server role, and return the answer.

    With ``a=setup:active`` (aiortc's default answer) our ClientHello leaves the moment our
    ICE check succeeds, which can be before Janus has set up its DTLS stack for the
    component; Janus drops it and OpenSSL resends only after its 1 s timer, so about one
    subscription in ten took 1 s longer. As the passive side we wait for Janus' ClientHello
    instead, which it sends once it is ready; early packets queue in aioice, none are lost.
    Only done when the offer leaves us the choice (``actpass``).
    """
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type=offer["type"]))
    answer = await pc.createAnswer()
    sdp = answer.sdp
    if "a=setup:actpass" in offer["sdp"]:
        sdp = sdp.replace("a=setup:active", "a=setup:passive")
    await pc.setLocalDescription(RTCSessionDescription(sdp=sdp, type=answer.type))
    return {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}


async def _wait_connected(pc: RTCPeerConnection, within: float,
                          failed: asyncio.Event | None = None) -> bool:
    """Whether ``pc`` connects within ``within`` seconds; ``failed``: the server already
    said this attempt failed (no use waiting on)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed") or loop.time() > deadline or \
                (failed is not None and failed.is_set()):
            return False
        await asyncio.sleep(0.02)
    return True


@dataclass(eq=False)
class LocalStream:
    """One of our publications: its source survives re-publishing (through a relay).

    ``publication_id`` is the server's id of the current attempt: notices and events about
    earlier attempts of the same stream id (ones we withdrew or closed ourselves) are stale;
    ``abandoned`` keeps those ids, so that their late failure notices (Janus hanging up a
    connection we closed) are not shown as errors of the stream. ``looping``: a publish loop runs (the first one included), the only one for this
    stream; ``attempt_failed``: the server said the attempt in progress failed."""

    type: str
    device_id: str
    tracks: list[MediaStreamTrack]
    player: MediaPlayer | None = None
    relay: MediaRelay = field(default_factory=MediaRelay)
    stream_id: str = ""
    pc: RTCPeerConnection | None = None
    active: bool = True
    withdrawn: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None
    announced: asyncio.Event = field(default_factory=asyncio.Event)
    publication_id: str = ""
    abandoned: set[str] = field(default_factory=set)
    looping: bool = False
    attempt_failed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.device_id)

    def fields(self, userid: str) -> dict[str, str]:
        return {"userId": userid, "type": self.type, "deviceId": self.device_id}

    def abandon(self) -> None:
        """Give up the current attempt (publishing again, or withdrawing it)."""
        if self.publication_id:
            self.abandoned.add(self.publication_id)
        self.publication_id = ""

    def stale(self, notice: dict[str, Any]) -> bool:
        """Whether a notice is about an attempt given up: not the stream's news any more."""
        return notice.get("publicationId") in self.abandoned

    def stop_source(self) -> None:
        for t in self.tracks:
            t.stop()
        if self.player is not None:
            for pt in (self.player.audio, self.player.video):
                if pt is not None:
                    pt.stop()


class RemoteStream:
    """A stream we play: frames as an async iterator, or the current aiortc track.

    It survives re-subscribing (after a failure or a media-server move): ``frames()`` keeps
    yielding from whichever PeerConnection currently carries the stream.
    """

    def __init__(self, userid: str, type: str, device_id: str, queue_size: int = 30) -> None:
        self.userid, self.type, self.device_id = userid, type, device_id
        self.stream_id = f"{userid}:{type}:{device_id}"
        self.subscription_id = ""
        self.publication_id = ""  # the publication the current subscription plays
        self.looping = False  # a subscribe loop runs (the first one included)
        self.attempt_failed = asyncio.Event()  # the server failed the current subscription
        self.layer: str | None = None  # asked for (simulcast): "high", "medium" or "low"
        self.current_layer: str | None = None  # what the media server forwards now
        self.frames_received = 0
        self.track: MediaStreamTrack | None = None
        self.pc: RTCPeerConnection | None = None
        self.active = True
        self.first_frame: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue: asyncio.Queue[Frame | None] = asyncio.Queue(queue_size)
        self._readers: list[asyncio.Task[None]] = []
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None

    def _feed(self, track: MediaStreamTrack) -> None:
        self.track = track
        self._readers.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, VideoFrame | AudioFrame):
                    continue  # an encoded packet: only decoded frames are handed out
                self.frames_received += 1
                if not self.first_frame.done():
                    self.first_frame.set_result(loop.time())
                if self._queue.full():
                    self._queue.get_nowait()
                self._queue.put_nowait(frame)

    async def frames(self) -> AsyncIterator[Frame]:
        """Decoded frames as they arrive (the oldest are dropped if the reader lags)."""
        while True:
            frame = await self._queue.get()
            if frame is None:
                return
            yield frame

    async def _close_pc(self) -> None:
        for r in self._readers:
            r.cancel()
        self._readers.clear()
        if self.pc is not None:
            pc, self.pc = self.pc, None
            await pc.close()

    async def _end(self) -> None:
        self.active = False
        await self._close_pc()
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)


def _same_attempt(data: dict[str, Any], publication_id: str) -> bool:
    """Whether a server event or notice concerns the publication ``publication_id`` (``""``:
    the attempt has no answer yet, so a named one is an earlier attempt; a server that
    names no publication: assume it does)."""
    named = data.get("publicationId")
    return not named or named == publication_id


async def _first(*events: asyncio.Event) -> None:
    """Wait until one of ``events`` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


class MediaClient:
    """Publish and play media in the room the signalling connection joined."""

    def __init__(self, request: Request, userid: str, *, max_reconnect: int | None = None,
                 publish_timeout: float = 10.0, subscribe_timeout: float = 10.0,
                 retry_delay: float = 0.5) -> None:
        self.request = request
        self.userid = userid
        self.max_reconnect = max_reconnect
        self.publish_timeout = publish_timeout
        self.subscribe_timeout = subscribe_timeout
        self.retry_delay = retry_delay
        self.profile = VideoProfile()
        self.audio_profile = AudioProfile()
        self.local: dict[tuple[str, str], LocalStream] = {}
        self.remote: dict[str, RemoteStream] = {}
        self.available: dict[str, dict[str, Any]] = {}
        self.notices: list[dict[str, Any]] = []
        # TURN servers (getconfig's ``iceServers``); ``attach`` reads the room's at each attempt
        self.ice_servers: Callable[[], list[dict[str, Any]]] = list
        self.ice_policy = "all"  # "relay": through TURN only (what the network benchmark uses)
        self.turn_choice = 0  # which TURN URL goes first; moves on after a failed connection
        self._turn_chosen: asyncio.Task[None] | None = None  # the TURN URLs tried once
        self._listeners: list[NoticeCallback] = []
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()  # close() cancels

    def _new_peer(self) -> RTCPeerConnection:
        return new_peer(self.ice_servers(), turn_choice=self.turn_choice, policy=self.ice_policy)

    async def _choose_turn(self) -> None:
        """Before the first connection: start with a TURN URL that works on this network."""
        if self._turn_chosen is None:
            async def choose() -> None:
                self.turn_choice = await choose_turn(self.ice_servers(), self.turn_choice)
            self._turn_chosen = self._spawn(choose())
        await asyncio.shield(self._turn_chosen)

    # ---- notices and server events --------------------------------------------------------

    def on_notice(self, callback: NoticeCallback) -> None:
        """Call ``callback(notice)`` for every notice, from the server or the SDK itself."""
        self._listeners.append(callback)

    def _emit(self, kind: str, code: int, msg: str = "", **fields: Any) -> None:
        ns = {"error": "error_notice", "warn": "warning_notice", "info": "info_notice"}[kind]
        if not msg:
            try:
                msg = codes.describe(ns, int(code))
            except KeyError:
                msg = codes.describe("sdk", int(code))
        self._notice({"kind": kind, "code": int(code), "msg": msg, **fields})

    def _notice(self, notice: dict[str, Any]) -> None:
        self.notices.append(notice)
        for cb in list(self._listeners):
            try:
                cb(notice)
            except Exception:
                log.exception("notice callback failed")

    async def dispatch(self, ev: str, data: dict[str, Any]) -> None:
        """Feed one server event (``onAddStream``, ``onRemoveStream``, ``notice``,
        ``mediaServerChanged``) to the media side."""
        if ev == "onAddStream":
            self.available[data["streamId"]] = data
            mine = self.local.get((data.get("type", ""), data.get("deviceId", "default")))
            if data.get("userId") == self.userid and mine is not None and \
                    mine.stream_id == data["streamId"] and \
                    _same_attempt(data, mine.publication_id):
                mine.announced.set()
            rs = self.remote.get(data["streamId"])
            if rs is not None and rs.active and rs.pc is None and not rs.lock.locked():
                self._background(self._subscribe_loop(rs, resume=True), rs)
        elif ev == "onRemoveStream":
            self.available.pop(data.get("streamId", ""), None)
            if data.get("reason") == "publishstate" and data.get("userId") == self.userid:
                ls = self.local.get((data.get("type", ""), data.get("deviceId", "default")))
                if ls is not None:
                    await self._unpublish(ls, quiet=True)
            rs = self.remote.get(data.get("streamId", ""))
            if rs is not None and _same_attempt(data, rs.publication_id):
                await rs._close_pc()
        elif ev == "notice":
            ls = self.local.get((data.get("type", ""), data.get("deviceId", "default")))
            if data.get("userId") == self.userid and ls is not None and ls.stale(data):
                log.debug("notice %s about the abandoned attempt %s of %s", data.get("code"),
                          data.get("publicationId"), ls.stream_id)
                return
            self._notice(data)
            self._on_server_notice(data)
        elif ev == "onVideoLayer":
            rs = self.remote.get(data.get("streamId", ""))
            if rs is not None and rs.subscription_id == data.get("subscriptionId"):
                rs.current_layer = data.get("layer")
        elif ev == "mediaServerChanged" and data.get("serverName"):
            for ls in self.local.values():
                if ls.active and not ls.withdrawn:
                    self._background(self._publish_loop(ls), ls)

    def _on_server_notice(self, n: dict[str, Any]) -> None:
        code = n.get("code")
        key = (n.get("type", ""), n.get("deviceId", "default"))
        if n.get("kind") == "error" and code in RETRY_PUBLISH and n.get("userId") == self.userid:
            ls = self.local.get(key)
            # a notice about an attempt we already gave up on (withdrew, or closed to publish
            # again) says nothing about the current one: republishing would tear that down
            if ls is not None and ls.active and _same_attempt(n, ls.publication_id):
                self._retry(self._publish_loop(ls, failed=True), ls)
        elif n.get("kind") == "error" and code in RETRY_SUBSCRIBE:
            rs = next((r for r in self.remote.values()
                       if r.subscription_id == n.get("subscriptionId")), None)
            if rs is not None and rs.active:
                self._retry(self._subscribe_loop(rs, failed=True), rs)
        elif code == W.WAR_UNPUBLISHVIDEO_BY_SWITCHAUDIOROOM:
            ls = self.local.get(key)
            if ls is not None:
                ls.withdrawn = True
                self._spawn(self._close_local_pc(ls))
        elif code == W.WAR_PUBLISHVIDEO_BY_SWITCHAUDIOVIDEOROOM:
            ls = self.local.get(key)
            if ls is not None and ls.active and ls.withdrawn:
                ls.withdrawn = False
                self._background(self._publish_loop(ls), ls)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = spawn(coro)
        self._tasks.add(task)
        return task

    def _background(self, coro: Coroutine[Any, Any, None],
                    owner: LocalStream | RemoteStream) -> None:
        """Run one retry loop per stream at a time (the first call's loop counts too)."""
        if owner.looping or (owner.task is not None and not owner.task.done()):
            coro.close()
            return
        owner.task = self._spawn(coro)

    def _retry(self, coro: Coroutine[Any, Any, None], owner: LocalStream | RemoteStream) -> None:
        """The server failed the current attempt: the loop waiting on it moves on at once,
        or a new loop starts when none runs."""
        if owner.looping:
            owner.attempt_failed.set()
            coro.close()
            return
        self._background(coro, owner)

    # ---- publishing -----------------------------------------------------------------------

    def setVideoProfile(self, width: int = 640, height: int = 480, fps: int = 30) -> None:
        """The size and rate of the next camera publication (2008 invalid, 2006 impossible)."""
        profile = VideoProfile(width, height, fps)
        profile.check()
        self.profile = profile

    def setAudioProfile(self, sample_rate: int = 48000, channels: int = 1) -> None:
        """The rate and channels of the next microphone publication (2007 / 2005)."""
        profile = AudioProfile(sample_rate, channels)
        profile.check()
        self.audio_profile = profile

    async def publishVideo(self, source: str | MediaStreamTrack | None = None,
                           deviceId: str = "default", fmt: str | None = None) -> str:
        """Publish a camera: a device or file path (``fmt`` e.g. 'v4l2'), a track, or generated
        frames (``None``). Returns the stream id."""
        if isinstance(source, str):
            player = open_player("video", source, fmt, self._capture_options(fmt))
            return await self._publish("video", deviceId, [player_track(player, "video")], player)
        return await self._publish("video", deviceId, [source or PatternTrack(self.profile)])

    async def publishAudio(self, source: str | MediaStreamTrack | None = None,
                           fmt: str | None = None) -> str:
        """Publish a microphone: a device (``fmt`` 'alsa' / 'pulse') or file, a track, or a
        generated tone."""
        if isinstance(source, str):
            player = open_player("audio", source, fmt)
            return await self._publish("audio", "default", [player_track(player, "audio")],
                                       player)
        return await self._publish("audio", "default", [source or ToneTrack(self.audio_profile)])

    async def startShareScreen(self, source: str | MediaStreamTrack | None = None) -> str:
        """Share the screen (x11grab of ``$DISPLAY``), or a track standing for it (2103 when the
        screen cannot be captured)."""
        if isinstance(source, MediaStreamTrack):
            return await self._publish("screen", "default", [source])
        player = open_screen(source)
        return await self._publish("screen", "default", [player_track(player, "video")], player)

    async def publishMedia(self, path: str) -> str:
        """Share a media file (its audio and video) as a stream of its own."""
        player = open_player("video", path)
        tracks = [t for t in (player.audio, player.video) if t is not None]
        return await self._publish("media", "default", tracks, player)

    def _capture_options(self, fmt: str | None) -> dict[str, str]:
        if fmt != "v4l2":
            return {}
        p = self.profile
        return {"video_size": f"{p.width}x{p.height}", "framerate": str(p.fps)}

    async def _publish(self, type: str, device_id: str, tracks: list[MediaStreamTrack],
                       player: MediaPlayer | None = None) -> str:
        if (type, device_id) in self.local:
            raise CodeError(2601, f"{type}:{device_id} is already published", namespace="sdk")
        ls = LocalStream(type, device_id, [], player)
        ls.tracks = [WatchedTrack(t, functools.partial(self._device_lost, ls)) for t in tracks]
        self.local[ls.key] = ls
        try:
            await self._publish_loop(ls, initial=True)
        except BaseException:
            self.local.pop(ls.key, None)
            ls.stop_source()
            raise
        return ls.stream_id

    async def _publish_loop(self, ls: LocalStream, *, initial: bool = False,
                            failed: bool = False) -> None:
        if ls.looping:
            return
        ls.looping = True
        try:
            await self._publish_attempts(ls, initial=initial, failed=failed)
        finally:
            ls.looping = False

    async def _publish_attempts(self, ls: LocalStream, *, initial: bool, failed: bool) -> None:
        attempts = 1 if failed else 0
        while ls.active and not ls.withdrawn:
            if failed or attempts:
                if self.max_reconnect is not None and attempts > self.max_reconnect:
                    await self._give_up(ls)
                    if initial:
                        raise CodeError(PUBLISH_FAILED, "gave up after "
                                        f"{self.max_reconnect} reconnects", namespace="sdk",
                                        reason=int(E.ERR_PUBLISH_MAX_RECONNECT_COUNT))
                    return
                await asyncio.sleep(self.retry_delay)
            try:
                async with ls.lock:
                    await self._publish_once(ls)
                return
            except Retry as r:
                attempts += 1
                if initial:
                    self._emit("error", r.code, str(r), **ls.fields(self.userid))
            except CodeError as e:
                if initial:
                    self._emit("error", e.code, e.message, **ls.fields(self.userid))
                    raise _fail(PUBLISH_FAILED, e) from None
                if e.code == NO_MEDIA_SERVER:  # failing over: a server comes back or is found
                    attempts += 1
                    continue
                ls.active = False
                self._emit("error", e.code, e.message, **ls.fields(self.userid))
                return

    async def _publish_once(self, ls: LocalStream) -> None:
        if ls.publication_id:
            # publishing again (our connection failed, the server moved): withdraw the
            # earlier attempt first, or the server may still hold it and refuse this one
            await self._withdraw_attempt(ls)
        await self._close_local_pc(ls)
        ls.announced.clear()
        ls.attempt_failed.clear()
        ls.abandon()
        await self._choose_turn()
        pc = self._new_peer()
        ls.pc = pc
        for t in ls.tracks:
            pc.addTransceiver(ls.relay.subscribe(t, buffered=False), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
        try:
            ack = await self.request("publish", {"type": ls.type, "deviceId": ls.device_id,
                                                 "jsep": offer})
        except CodeError as e:
            await self._close_local_pc(ls)
            if e.code in RETRY_PUBLISH:
                raise Retry(e.code, e.message) from None
            raise
        except TimeoutError:
            await self._close_local_pc(ls)
            raise Retry(E.ERR_PUBLISH_TIMEOUT, "the server did not answer") from None
        ls.stream_id = ack["streamId"]
        ls.publication_id = str(ack.get("publicationId") or "")
        await pc.setRemoteDescription(RTCSessionDescription(**ack["jsep"]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.publish_timeout
        if not await _wait_connected(pc, self.publish_timeout, ls.attempt_failed):
            await self._withdraw_attempt(ls)
            self.turn_choice += 1
            raise Retry(E.ERR_PUBLISH_TIMEOUT, "no connection to the media server")
        # Our side of the connection is up before Janus's (it reports ``webrtcup`` a moment
        # later, and only then may others subscribe): the call returns once the server has
        # announced the stream to the room, so others can play it as soon as it returns.
        try:
            await asyncio.wait_for(_first(ls.announced, ls.attempt_failed),
                                   max(0.0, deadline - loop.time()))
            if not ls.announced.is_set():
                raise TimeoutError
        except TimeoutError:
            await self._withdraw_attempt(ls)
            raise Retry(E.ERR_PUBLISH_TIMEOUT, "the server did not announce the stream") from None

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState == "failed" and ls.pc is pc and ls.active:
                self._emit("error", E.ERR_PUBLISH_FAILED, "connection to the media server failed",
                           **ls.fields(self.userid))
                self._background(self._publish_loop(ls, failed=True), ls)

    async def _withdraw_attempt(self, ls: LocalStream) -> None:
        """Close the attempt and withdraw it at the server: that attempt only (should a
        newer publication of the stream be there, it stays)."""
        await self._close_local_pc(ls)
        req = {"streamId": ls.stream_id}
        if ls.publication_id:
            req["publicationId"] = ls.publication_id
        ls.abandon()
        with contextlib.suppress(CodeError, TimeoutError):
            await self.request("unpublish", req)

    async def _close_local_pc(self, ls: LocalStream) -> None:
        if ls.pc is not None:
            pc, ls.pc = ls.pc, None
            await pc.close()

    async def _give_up(self, ls: LocalStream) -> None:
        """Past ``max_reconnect``: error 134 and the withdrawal warnings 1013 / 1014."""
        ls.active = False
        self.local.pop(ls.key, None)
        await self._close_local_pc(ls)
        ls.stop_source()
        f = ls.fields(self.userid)
        self._emit("error", E.ERR_PUBLISH_MAX_RECONNECT_COUNT, **f)
        if any(t.kind == "video" for t in ls.tracks):
            self._emit("warn", W.WAR_UNPUBLISHVIDEO_BY_MAX_RECONNECT_COUNT, **f)
        if any(t.kind == "audio" for t in ls.tracks):
            self._emit("warn", W.WAR_UNPUBLISHAUDIO_BY_MAX_RECONNECT_COUNT, **f)

    def _device_lost(self, ls: LocalStream, why: str) -> None:
        """The capture device went away: 2009 (camera) / 2011 (microphone), then withdraw
        the stream with warning 1015 / 1016."""
        if not ls.active:
            return
        kind = "audio" if ls.type == "audio" else "video"
        err = device_error(kind, "lost", why)
        f = ls.fields(self.userid)
        self._emit("error", err.code, err.message, **f)
        self._emit("warn", W.WAR_UNPUBLISHAUDIO_BY_GET_DEVICE_MEDIASTREAM_FAILURE if kind == "audio"
                   else W.WAR_UNPUBLISHVIDEO_BY_GET_DEVICE_MEDIASTREAM_FAILURE, **f)
        self._spawn(self._unpublish(ls, quiet=True))

    async def _unpublish(self, ls: LocalStream, quiet: bool = False) -> None:
        ls.active = False
        self.local.pop(ls.key, None)
        if ls.task is not None and ls.task is not asyncio.current_task():
            ls.task.cancel()
        await self._close_local_pc(ls)
        ls.stop_source()
        if ls.stream_id and not ls.withdrawn:
            try:
                await self.request("unpublish", {"streamId": ls.stream_id})
            except CodeError as e:
                if not quiet and e.code != E.ERR_SUBSCRIBE_STREAM_NOTFOUND:
                    raise _fail(UNPUBLISH_FAILED, e) from None

    async def _unpublish_key(self, type: str, device_id: str) -> None:
        ls = self.local.get((type, device_id))
        if ls is None:
            raise CodeError(UNPUBLISH_FAILED, f"{type}:{device_id} is not published",
                            namespace="sdk")
        await self._unpublish(ls)

    async def unpublishVideo(self, deviceId: str = "default") -> None:
        await self._unpublish_key("video", deviceId)

    async def unpublishAudio(self) -> None:
        await self._unpublish_key("audio", "default")

    async def stopShareScreen(self) -> None:
        await self._unpublish_key("screen", "default")

    async def unpublishMedia(self) -> None:
        await self._unpublish_key("media", "default")

    # ---- playing --------------------------------------------------------------------------

    async def playVideo(self, userid: str, deviceId: str = "default",
                        type: str = "video", layer: str | None = None) -> RemoteStream:
        """Subscribe to a user's camera (or ``type`` 'screen' / 'media'); ``layer``: the
        simulcast layer wanted ("high", "medium" or "low"; the server's default: high)."""
        return await self._play(userid, type, deviceId, layer)

    async def setVideoLayer(self, userid: str, layer: str, deviceId: str = "default",
                            type: str = "video") -> str | None:
        """Ask for another simulcast layer of a played stream; the layer forwarded now (None:
        the stream has one layer). A weak link may hold it lower (``onVideoLayer`` events)."""
        rs = self.remote.get(f"{userid}:{type}:{deviceId}")
        if rs is None:
            raise CodeError(E.ERR_SUBSCRIBE_STREAM_NOTFOUND, f"{userid}'s {type} is not played",
                            namespace="error_notice")
        rs.layer = layer
        ack = await self.request("setVideoLayer", {"subscriptionId": rs.subscription_id,
                                                   "layer": layer})
        rs.current_layer = ack.get("layer")
        return rs.current_layer

    async def playAudio(self, userid: str) -> RemoteStream:
        return await self._play(userid, "audio", "default")

    async def _play(self, userid: str, type: str, device_id: str,
                    layer: str | None = None) -> RemoteStream:
        rs = RemoteStream(userid, type, device_id)
        rs.layer = layer
        if rs.stream_id in self.remote:
            return self.remote[rs.stream_id]
        self.remote[rs.stream_id] = rs
        try:
            await self._subscribe_loop(rs, initial=True)
        except BaseException:
            self.remote.pop(rs.stream_id, None)
            raise
        return rs

    async def _subscribe_loop(self, rs: RemoteStream, *, initial: bool = False,
                              failed: bool = False, resume: bool = False) -> None:
        """Subscribe, retrying; ``resume``: only if no subscription was made meanwhile."""
        if rs.looping:
            return
        rs.looping = True
        try:
            await self._subscribe_attempts(rs, initial=initial, failed=failed, resume=resume)
        finally:
            rs.looping = False

    async def _subscribe_attempts(self, rs: RemoteStream, *, initial: bool, failed: bool,
                                  resume: bool) -> None:
        attempts = 1 if failed else 0
        last = int(E.ERR_SUBSCRIBE_FAILED)
        while rs.active:
            if resume and rs.pc is not None:
                return
            if attempts:
                if self.max_reconnect is not None and attempts > self.max_reconnect:
                    await rs._close_pc()
                    if initial:
                        raise CodeError(SUBSCRIBE_FAILED, "gave up after "
                                        f"{self.max_reconnect} reconnects", namespace="sdk",
                                        reason=last)
                    return
                await asyncio.sleep(self.retry_delay)
            try:
                async with rs.lock:
                    if resume and rs.pc is not None:
                        return
                    await self._subscribe_once(rs)
                return
            except Retry as r:
                attempts += 1
                last = r.code
                if initial:
                    self._emit("error", r.code, str(r), userId=rs.userid, type=rs.type,
                               deviceId=rs.device_id)
            except CodeError as e:
                if initial:
                    raise _fail(SUBSCRIBE_FAILED, e) from None
                if e.code == E.ERR_SUBSCRIBE_STREAM_NOTFOUND:
                    return  # it comes back with onAddStream
                rs.active = False
                return

    async def _subscribe_once(self, rs: RemoteStream) -> None:
        await rs._close_pc()
        rs.attempt_failed.clear()
        await self._choose_turn()
        try:
            req: dict[str, Any] = {"streamId": rs.stream_id}
            if rs.layer is not None:
                req["layer"] = rs.layer
            ack = await self.request("subscribe", req)
        except CodeError as e:
            if e.code in RETRY_SUBSCRIBE:
                raise Retry(e.code, e.message) from None
            raise
        except TimeoutError:
            raise Retry(E.ERR_SUBSCRIBE_TIMEOUT, "the server did not answer") from None
        rs.subscription_id = ack["subscriptionId"]
        rs.publication_id = str(ack.get("publicationId") or "")
        rs.current_layer = ack.get("layer")
        pc = self._new_peer()
        rs.pc = pc
        pc.on("track", rs._feed)
        answer = await answer_as_dtls_server(pc, ack["jsep"])
        try:
            await self.request("signaling_message", {"id": rs.subscription_id, "jsep": answer})
        except CodeError as e:
            await rs._close_pc()
            if e.code in RETRY_SUBSCRIBE:
                raise Retry(e.code, e.message) from None
            raise
        if not await _wait_connected(pc, self.subscribe_timeout, rs.attempt_failed):
            await rs._close_pc()
            with contextlib.suppress(CodeError, TimeoutError):
                await self.request("unsubscribe", {"subscriptionId": rs.subscription_id})
            self.turn_choice += 1
            raise Retry(E.ERR_SUBSCRIBE_TIMEOUT, "no connection to the media server")

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState == "failed" and rs.pc is pc and rs.active:
                self._emit("error", E.ERR_SUBSCRIBE_FAILED, "connection to the media server "
                           "failed", userId=rs.userid, type=rs.type, deviceId=rs.device_id)
                self._background(self._subscribe_loop(rs, failed=True), rs)

    async def _unplay(self, stream_id: str) -> None:
        rs = self.remote.pop(stream_id, None)
        if rs is None:
            raise CodeError(UNSUBSCRIBE_FAILED, f"{stream_id} is not played", namespace="sdk")
        if rs.task is not None:
            rs.task.cancel()
        sub_id = rs.subscription_id if rs.pc is not None else ""
        await rs._end()
        if sub_id:
            try:
                await self.request("unsubscribe", {"subscriptionId": sub_id})
            except CodeError as e:
                if e.code != E.ERR_SUBSCRIBE_STREAM_NOTFOUND:
                    raise _fail(UNSUBSCRIBE_FAILED, e) from None

    async def unplayVideo(self, userid: str, deviceId: str = "default",
                          type: str = "video") -> None:
        await self._unplay(f"{userid}:{type}:{deviceId}")

    async def unplayAudio(self, userid: str) -> None:
        await self._unplay(f"{userid}:audio:default")

    async def waitForStream(self, userid: str, type: str = "video", deviceId: str = "default",
                            within: float = 10.0) -> dict[str, Any]:
        """Wait until the stream is published (asks ``getStreams`` once, for late joiners,
        then waits for ``onAddStream``); TimeoutError if it does not come."""
        stream_id = f"{userid}:{type}:{deviceId}"
        if stream_id not in self.available:
            await self.getStreams()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while stream_id not in self.available:
            if loop.time() > deadline:
                raise TimeoutError(f"{stream_id} was not published within {within:g} s")
            await asyncio.sleep(0.02)
        return self.available[stream_id]

    async def getStreams(self) -> list[dict[str, Any]]:
        """The streams being published now (late joiners learn them here)."""
        ack = await self.request("getStreams", {})
        for s in ack["streams"]:
            self.available[s["streamId"]] = s
        return list(ack["streams"])

    # ---- room-wide calls ------------------------------------------------------------------

    async def switchOnlyAudioRoom(self, on: bool) -> None:
        """Make the room audio-only (the saved ``OnlyAudioRoom`` message), or undo it."""
        msg = {"name": "OnlyAudioRoom", "id": "OnlyAudioRoom", "toID": "__all"}
        if on:
            await self.request("pubMsg", {**msg, "data": {}, "save": True})
        else:
            await self.request("delMsg", msg)

    async def startServerRecord(self) -> dict[str, Any]:
        return await self.request("startServerRecord", {})

    async def stopServerRecord(self) -> dict[str, Any]:
        return await self.request("stopServerRecord", {})

    async def requestServerList(self) -> dict[str, Any]:
        return await self.request("requestServerList", {})

    async def switchServerByName(self, name: str) -> dict[str, Any]:
        return await self.request("switchServerByName", {"serverName": name})

    async def close(self) -> None:
        """Stop everything (without telling the server: leaving the room does that)."""
        for ls in list(self.local.values()):
            ls.active = False
            await self._close_local_pc(ls)
            ls.stop_source()
        self.local.clear()
        for rs in list(self.remote.values()):
            await rs._end()
        self.remote.clear()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


MEDIA_SERVER_EVENTS = frozenset(("onAddStream", "onRemoveStream", "notice", "mediaServerChanged"))


def attach(room: Any, **options: Any) -> MediaClient:
    """The media side of a ``tkroom.client.Room`` (before or after ``joinroom``).

    Media requests go through the room's public ``request`` hook and the room's media events
    reach the returned ``MediaClient`` through ``on_server_event`` (after the room has dropped
    replays; the room keeps emitting its own notice events too).
    ``options``: ``max_reconnect`` (the room's ``maxReconnectCount``), timeouts.
    """

    def me() -> str:
        return (room.getMySelf() or {}).get("id") or client.userid

    async def request(ev: str, data: dict[str, Any]) -> Any:
        client.userid = me()
        return await room.request(ev, data)

    def on_event(ev: str, data: dict[str, Any], s: int | None) -> None:
        if ev in MEDIA_SERVER_EVENTS:
            client.userid = me()
            client._spawn(client.dispatch(ev, data))

    client = MediaClient(request, "", **options)
    client.ice_servers = lambda: list(getattr(room, "iceServers", []))
    room.on_server_event(on_event)
    return client
