"""The live compositor: a class as HLS (and optionally RTMP) while it has live viewers.

While a room this node serves has live viewers (role 3) and its class has not ended, one
ffmpeg per room receives every flowing publication as plain RTP (Janus VideoRoom
``rtp_forward`` to local UDP ports, ``media.videoroom.VideoRoom.rtp_forward``), composes them
per the room's layout over the page layer (``tkroom.egress.live_plan``), mixes the audio and
writes 1 s HLS segments under ``<data>/live/<serial>/`` that ``tkroom.egress.live_http``
serves. A changed set of streams restarts ffmpeg on the same playlist (a discontinuity); a
dead ffmpeg is restarted with a growing delay; the last viewer leaving or the class ending
stops it and removes its files. Nothing here blocks the event loop: ffmpeg runs as a
subprocess, file work goes to a thread.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hmac
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tkroom.directory import RoomDirectory
from tkroom.egress.board import BoardRenderer
from tkroom.egress.eventlog import page_file
from tkroom.egress.live_plan import (
    Output,
    Stream,
    ffmpeg_argv,
    receiver_sdp,
    rtmp_argv,
    tiles,
    tracks,
)
from tkroom.media.janus_client import JanusError
from tkroom.media.model import MediaRoom
from tkroom.media.service import MediaService
from tkroom.media.videoroom import Forward, VideoRoom
from tkroom.metrics import Metric, live_families
from tkroom.roles import VIEWER
from tkroom.rooms.model import Event
from tkroom.rooms.scene import Scene, SceneBuilder, start_line
from tkroom.state.base import RoomState
from tkroom.storage.base import Storage, StorageError
from tkroom.tasks import end_process, spawn
from tkroom.tickets import live_token

log = logging.getLogger(__name__)

# events that can change who watches, what is streamed or what the still shows (board, chat)
WATCHED = frozenset({"participantJoined", "participantLeft", "participantEvicted", "_departed",
                     "onAddStream", "onRemoveStream", "pubMsg", "delMsg", "setProperty",
                     "sendMessage"})
CLASS_BEGIN = "ClassBegin"
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
STABLE_S = 30.0  # an ffmpeg that ran this long resets the restart delay
SWEEP_S = 2.0  # how often rooms without a stream are looked at (big rooms' silent joins)
KEYFRAME_AFTER_S = 1.0  # ffmpeg opens its RTP inputs within about this long


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """The node's live settings (``live_*`` in ``tkroom.config``)."""

    workdir: Path
    output: Output = Output()
    max_rooms: int = 4
    ports: tuple[int, int] = (50000, 50999)
    rtp_host: str = "127.0.0.1"
    rtmp_url: str = ""
    ffmpeg: str = "ffmpeg"


class PortPool:
    """Even UDP ports of a range, one per forwarded stream (RTCP takes the odd one above)."""

    def __init__(self, first: int, last: int) -> None:
        self.free = collections.deque(range(first + first % 2, last, 2))

    def take(self) -> int:
        if not self.free:
            raise RuntimeError("no free live RTP port: widen live_ports")
        return self.free.popleft()

    def give(self, port: int) -> None:
        self.free.append(port)


@dataclass(eq=False)
class Forwarded:
    stream: Stream
    janus_id: int | None = None


@dataclass(eq=False)
class LiveRoom:
    """One room's live stream."""

    serial: str
    dir: Path
    forwards: dict[str, Forwarded] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    proc: asyncio.subprocess.Process | None = None
    rtmp: asyncio.subprocess.Process | None = None
    rtmp_url: str = ""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    starts: int = 0          # ffmpeg processes started (a restart makes it > 1)
    deaths: int = 0          # of which ended without being asked to
    stopping: bool = False
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    log_tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=20))
    scene: SceneBuilder = field(default_factory=SceneBuilder)
    t0: float = field(default_factory=time.monotonic)
    board_key: tuple[Any, ...] | None = None
    layers: int = 0          # board stills written (the first, then one per change)

    def t(self) -> int:
        return int((time.monotonic() - self.t0) * 1000)


class LiveService:
    """Every live stream of this node. ``watch(serial)`` when the node starts serving a room
    (a ``SignalServer.room_hooks`` hook); the rest follows from the room's events."""

    def __init__(self, settings: LiveSettings, state: RoomState, directory: RoomDirectory,
                 media: MediaService | None, *,
                 push_url: Callable[[str], Awaitable[str]] | None = None,
                 storage: Storage | None = None) -> None:
        self.settings = settings
        self.state = state
        self.directory = directory
        self.storage = storage  # where courseware pages are (None: the board shows no page)
        self.media = media
        self.push_url = push_url
        self.ports = PortPool(*settings.ports)
        self.rooms: dict[str, LiveRoom] = {}
        self.refused: set[str] = set()  # rooms with viewers the cap left without a stream
        self.ended: set[str] = set()
        self._followed: dict[str, Callable[[Event], None]] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._lock = asyncio.Lock()
        self.restarts = 0  # ffmpeg deaths over the node's life (a metric)
        self._sweeper: asyncio.Task[None] | None = None

    # ---- following rooms ------------------------------------------------------------------

    def watch(self, serial: str) -> None:
        if serial in self._followed:
            return

        def callback(e: Event, s: str = serial) -> None:
            if e.ev in WATCHED:
                self._on_event(s, e)

        self._followed[serial] = callback
        spawn(self._subscribe(serial, callback), name=f"live-follow-{serial}")

    async def _subscribe(self, serial: str, callback: Callable[[Event], None]) -> None:
        await self.state.subscribe(serial, callback)
        self.poke(serial)

    def _on_event(self, serial: str, e: Event) -> None:
        lr = self.rooms.get(serial)
        if lr is not None and not e.ev.startswith("_"):
            lr.scene.apply({"kind": "event", "t": lr.t(), "name": e.ev, "data": e.data})
        name = e.data.get("name") or e.data.get("id")
        if name == CLASS_BEGIN and e.ev == "pubMsg":
            self.ended.discard(serial)
        elif name == CLASS_BEGIN and e.ev == "delMsg":
            self.ended.add(serial)
        # a class without a live stream costs nothing until a live viewer comes
        props = e.data.get("properties")
        viewer_came = e.ev == "participantJoined" and isinstance(props, dict) and \
            props.get("role") == VIEWER
        if lr is not None or serial in self.refused or viewer_came or name == CLASS_BEGIN:
            self.poke(serial)

    def poke(self, serial: str) -> None:
        """Look at the room again soon (several events in a row make one look)."""
        if serial in self._pending:
            self._again.add(serial)
            return
        self._pending[serial] = spawn(self._settle(serial), name=f"live-{serial}")

    async def _settle(self, serial: str) -> None:
        try:
            while True:
                self._again.discard(serial)
                await asyncio.sleep(0.2)
                try:
                    await self.reconsider(serial)
                except Exception:
                    log.exception("live stream of room %s", serial)
                if serial not in self._again:
                    return
        finally:
            self._pending.pop(serial, None)

    # ---- deciding -------------------------------------------------------------------------

    async def reconsider(self, serial: str) -> None:
        """Start, update or stop the room's live stream to match the room now."""
        async with self._lock:
            info = await self.directory.room(serial)
            members = await self.state.get_members(serial)
            viewers = sum(1 for m in members if m.role == VIEWER)
            lr = self.rooms.get(serial)
            if info is None or not info.allowsidelineuser or not viewers or \
                    serial in self.ended:
                self.refused.discard(serial)
                if lr is not None:
                    await self._stop_room(lr)
                    for waiting in list(self.refused):  # a slot is free: the first may have it
                        self.poke(waiting)
                if not members:
                    self._unwatch(serial)
                return
            if lr is None:
                if len(self.rooms) >= self.settings.max_rooms:
                    if serial not in self.refused:
                        log.warning("room %s has live viewers but this node already runs %d "
                                    "live streams (live_max_rooms)", serial, len(self.rooms))
                    self.refused.add(serial)
                    return
                self.refused.discard(serial)
                lr = LiveRoom(serial, self.settings.workdir / serial)
                lr.scene.apply(start_line(int(time.time() * 1000), serial, info.public(),
                                          [m.public() for m in members],
                                          await self.state.messages(serial)))
                if self.push_url is not None:
                    lr.rtmp_url = (await self.push_url(serial)).replace("{serial}", serial)
                await asyncio.to_thread(_fresh_dir, lr.dir)
                self.rooms[serial] = lr
            await self._sync_forwards(lr)
            argv = await self._plan(lr)
            if argv != lr.argv:
                lr.argv = argv
                if not lr.tasks:
                    lr.tasks.append(spawn(self._supervise(lr), name=f"live-ffmpeg-{serial}"))
                    if lr.rtmp_url:
                        lr.tasks.append(spawn(self._push(lr), name=f"live-rtmp-{serial}"))
                else:
                    lr.changed.set()

    def _media_room(self, serial: str) -> MediaRoom | None:
        return self.media.rooms.get(serial) if self.media is not None else None

    async def _sync_forwards(self, lr: LiveRoom) -> None:
        """Forward every flowing publication's tracks; forget the ones that went. Each video
        track is a ``track`` of the room's scene, so the layout places it."""
        room = self._media_room(lr.serial)
        wanted: dict[str, tuple[str, Stream]] = {}
        if room is not None and room.videoroom is not None:
            for pub in list(room.pubs.values()):
                if not pub.flowing:
                    continue
                for kind, mid, codec in tracks(pub.sdp):
                    s = Stream(pub.feed, mid, kind, pub.key.type, codec, pub.key.userid)
                    wanted[s.key] = (pub.feed, s)
        for key in [k for k in lr.forwards if k not in wanted]:
            gone = lr.forwards.pop(key).stream
            self.ports.give(gone.port)
            self._track(lr, gone, on=False)
        for key, (feed, s) in wanted.items():
            if key in lr.forwards:
                continue
            if room is None or room.videoroom is None:
                break
            port = self.ports.take()
            s = dataclasses.replace(s, port=port)
            try:
                ids = await room.videoroom.rtp_forward(
                    feed, self.settings.rtp_host, [Forward(s.mid, port, s.pt)])
            except (JanusError, TimeoutError) as e:
                log.warning("room %s: could not forward %s: %s", lr.serial, key, e)
                self.ports.give(port)
                continue
            lr.forwards[key] = Forwarded(s, ids[0] if ids else None)
            self._track(lr, s, on=True)

    @staticmethod
    def _track(lr: LiveRoom, s: Stream, *, on: bool) -> None:
        if s.kind == "video":
            lr.scene.apply({"kind": "track", "t": lr.t(), "userid": s.userid,
                            "stream_id": s.key, "type": s.source, "file": s.key, "on": on})

    async def _plan(self, lr: LiveRoom) -> list[str]:
        """The board still (when it changed) and the command for the room as it is now."""
        out = self.settings.output
        scene = lr.scene.scene(lr.t())
        streams = {f.stream.key: f.stream for f in lr.forwards.values()}
        audio = sorted((s for s in streams.values() if s.kind == "audio"), key=lambda s: s.key)
        files = {k: lr.dir / f"in-{s.port}.sdp" for k, s in streams.items()}
        sdps = {files[k]: receiver_sdp(s, self.settings.rtp_host) for k, s in streams.items()}
        layer = lr.dir / "layer.png"
        key = scene.board_key()
        page = None
        if key != lr.board_key and not scene.page.startswith("0_"):
            page = await self._page(lr, scene.page, scene.fileid, scene.pagenum)
        await asyncio.to_thread(_write_inputs, sdps, layer, out, scene,
                                page if key != lr.board_key else None, key != lr.board_key)
        if key != lr.board_key:
            lr.board_key = key
            lr.layers += 1
        return ffmpeg_argv(self.settings.ffmpeg, out, tiles(scene, streams, out), audio, files,
                           layer, lr.dir)

    async def _page(self, lr: LiveRoom, name: str, fileid: int, pagenum: int) -> Path | None:
        """The shown page's image in the room's folder, fetched from the storage once."""
        if self.storage is None:
            return None
        dest = lr.dir / page_file(name)
        if await asyncio.to_thread(dest.exists):
            return dest
        try:
            key = await self.directory.page_image(lr.serial, fileid, pagenum)
            if key is None:
                return None
            await self.storage.fetch(key, dest)
        except (OSError, StorageError) as e:
            log.warning("room %s: page %s not drawn: %s", lr.serial, name, e)
            return None
        return dest

    # ---- running --------------------------------------------------------------------------

    async def _supervise(self, lr: LiveRoom) -> None:
        """Keep one ffmpeg running with the room's current plan until the room stops."""
        failures = 0
        while not lr.stopping:
            lr.changed.clear()
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                *lr.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            lr.proc = proc
            lr.starts += 1
            drain = spawn(_drain(proc, lr.log_tail))
            spawn(self._keyframes(lr, proc), name=f"live-keyframes-{lr.serial}")
            ended = asyncio.ensure_future(proc.wait())
            changed = asyncio.ensure_future(lr.changed.wait())
            try:
                await asyncio.wait({ended, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                if not ended.done():
                    await end_process(proc, 5)
                await ended
                await drain
            if lr.stopping or lr.changed.is_set():
                failures = 0
                continue
            lr.deaths += 1
            self.restarts += 1
            failures = 0 if time.monotonic() - started > STABLE_S else failures + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            log.warning("live ffmpeg of room %s ended (%s); again in %.1f s: %s", lr.serial,
                        proc.returncode, delay, " | ".join(lr.log_tail) or "no output")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lr.stopped.wait(), delay)

    async def _keyframes(self, lr: LiveRoom, proc: asyncio.subprocess.Process) -> None:
        """Once the new ffmpeg listens, ask every forwarded camera for a key frame rather
        than wait for the room's periodic one (up to 5 s)."""
        await asyncio.sleep(KEYFRAME_AFTER_S)
        room = self._media_room(lr.serial)
        if room is None or proc.returncode is not None:
            return
        feeds = {f.stream.feed for f in lr.forwards.values() if f.stream.kind == "video"}
        for pub in [p for p in room.pubs.values() if p.feed in feeds]:
            with contextlib.suppress(JanusError, TimeoutError):
                await VideoRoom.keyframe(pub.handle)

    async def _push(self, lr: LiveRoom) -> None:
        """Copy the room's HLS to its RTMP URL, again whenever the copy ends."""
        playlist = lr.dir / "index.m3u8"
        failures = 0
        while not lr.stopping:
            if not playlist.exists():
                await asyncio.sleep(0.5)
                continue
            proc = await asyncio.create_subprocess_exec(
                *rtmp_argv(self.settings.ffmpeg, lr.dir, lr.rtmp_url),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            lr.rtmp = proc
            tail: collections.deque[str] = collections.deque(maxlen=5)
            drain = spawn(_drain(proc, tail))
            started = time.monotonic()
            try:
                await proc.wait()
            finally:
                if proc.returncode is None:
                    await end_process(proc, 5)
                await drain
            if lr.stopping:
                return
            failures = 0 if time.monotonic() - started > STABLE_S else failures + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            log.warning("RTMP push of room %s ended (%s); again in %.1f s: %s", lr.serial,
                        proc.returncode, delay, " | ".join(tail) or "no output")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lr.stopped.wait(), delay)

    async def _stop_room(self, lr: LiveRoom) -> None:
        lr.stopping = True
        lr.stopped.set()
        lr.changed.set()
        for proc in (lr.proc, lr.rtmp):
            if proc is not None and proc.returncode is None:
                await end_process(proc, 5)
        for task in lr.tasks:
            task.cancel()
        await asyncio.gather(*lr.tasks, return_exceptions=True)
        room = self._media_room(lr.serial)
        for f in lr.forwards.values():
            if room is not None and room.videoroom is not None and f.janus_id is not None:
                await room.videoroom.stop_rtp_forward(f.stream.feed, f.janus_id)
            self.ports.give(f.stream.port)
        lr.forwards.clear()
        await asyncio.to_thread(shutil.rmtree, lr.dir, True)
        self.rooms.pop(lr.serial, None)

    def _unwatch(self, serial: str) -> None:
        callback = self._followed.pop(serial, None)
        if callback is not None:
            self.state.unsubscribe(serial, callback)
        self.ended.discard(serial)

    async def start(self) -> None:
        await asyncio.to_thread(self.settings.workdir.mkdir, parents=True, exist_ok=True)
        self._sweeper = spawn(self._sweep(), name="live-sweep")

    async def _sweep(self) -> None:
        """In a big room a live viewer's join is announced to nobody (``rules.visible``): look
        at the served rooms without a stream now and then."""
        while True:
            await asyncio.sleep(SWEEP_S)
            for serial in list(self._followed):
                if serial not in self.rooms:
                    self.poke(serial)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self._pending.values()):
            task.cancel()
        async with self._lock:
            for lr in list(self.rooms.values()):
                await self._stop_room(lr)
        for serial in list(self._followed):
            self._unwatch(serial)

    def metrics(self) -> list[Metric]:
        return live_families(len(self.rooms), len(self.refused), self.restarts)

    def status(self) -> dict[str, Any]:
        """For readiness and tests: per room, its ffmpeg's pid, starts, deaths, streams."""
        return {s: {"pid": lr.proc.pid if lr.proc and lr.proc.returncode is None else None,
                    "starts": lr.starts, "deaths": lr.deaths, "streams": sorted(lr.forwards),
                    "rtmp": bool(lr.rtmp_url)} for s, lr in self.rooms.items()}

    @staticmethod
    def token(secret: bytes, serial: str) -> str:
        return live_token(secret, serial)


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def _write_inputs(sdps: dict[Path, str], layer: Path, out: Output, scene: Scene,
                  page: Path | None, board: bool) -> None:
    """The receivers' SDP files and, when the board changed, the still behind the videos
    (``egress.board``), replaced whole so that ffmpeg never reads half of it."""
    for path, text in sdps.items():
        path.write_text(text)
    if board:
        still = BoardRenderer(out.width, out.height, lambda _key: page).still(scene)
        tmp = layer.with_name("layer.tmp.png")
        still.save(tmp, compress_level=1)
        tmp.replace(layer)


async def _drain(proc: asyncio.subprocess.Process, tail: collections.deque[str]) -> None:
    """Read the child's stderr so it never blocks on a full pipe; keep its last lines."""
    assert proc.stderr is not None
    while line := await proc.stderr.readline():
        tail.append(line.decode("utf-8", "replace").rstrip()[:300])


def token_ok(secret: bytes, serial: str, token: str) -> bool:
    return hmac.compare_digest(live_token(secret, serial), token)


