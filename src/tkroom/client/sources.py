"""Where the SDK's published media comes from: a capture device, a media file, or frames the
program makes; and how a failing source maps to the specification's device codes.

The codes come in audio/video pairs: no device 101/151, permission denied 103/152, device
busy 104/153, unsatisfiable constraints 2005/2006, invalid constraints 2007/2008; a camera
removed while in use is 2009, a microphone 2011.
"""

from __future__ import annotations

import asyncio
import errno
import fractions
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, Packet, VideoFrame
from av.frame import Frame

from tkroom.errors import CodeError

VIDEO_CODES = {"notfound": 151, "denied": 152, "busy": 153, "over": 2006, "type": 2008,
               "lost": 2009}
AUDIO_CODES = {"notfound": 101, "denied": 103, "busy": 104, "over": 2005, "type": 2007,
               "lost": 2011}
SCREEN_REFUSED = 2103
MAX_WIDTH, MAX_HEIGHT, MAX_FPS = 4096, 2160, 60


def device_error(kind: str, what: str, detail: str) -> CodeError:
    """The SDK error for a source problem (``kind`` 'audio' or 'video')."""
    code = (AUDIO_CODES if kind == "audio" else VIDEO_CODES)[what]
    return CodeError(code, f"{detail}", namespace="sdk")


@dataclass(frozen=True, slots=True)
class VideoProfile:
    """What ``setVideoProfile`` sets for the next camera publication."""

    width: int = 640
    height: int = 480
    fps: int = 30

    def check(self) -> None:
        """2008 for values that are not constraints at all, 2006 for ones no source meets."""
        for name in ("width", "height", "fps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise device_error("video", "type", f"{name} must be a positive integer, not {v!r}")
        if self.width % 2 or self.height % 2:
            raise device_error("video", "type", "width and height must be even")
        if self.width > MAX_WIDTH or self.height > MAX_HEIGHT or self.fps > MAX_FPS:
            raise device_error("video", "over", f"{self.width}x{self.height}@{self.fps} cannot be "
                               f"captured (at most {MAX_WIDTH}x{MAX_HEIGHT}@{MAX_FPS})")


@dataclass(frozen=True, slots=True)
class AudioProfile:
    """What ``setAudioProfile`` sets for the next microphone publication."""

    sample_rate: int = 48000
    channels: int = 1

    def check(self) -> None:
        """2007 for values that are not constraints, 2005 for ones no source meets (Opus)."""
        for name in ("sample_rate", "channels"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise device_error("audio", "type", f"{name} must be a positive integer, not {v!r}")
        if self.sample_rate not in (8000, 12000, 16000, 24000, 48000) or self.channels > 2:
            raise device_error("audio", "over", f"{self.sample_rate} Hz x {self.channels} cannot "
                               "be captured for Opus")


class PatternTrack(MediaStreamTrack):
    """Generated video: a moving bar on black, at the profile's size and rate."""

    kind = "video"

    def __init__(self, profile: VideoProfile = VideoProfile()) -> None:
        super().__init__()
        profile.check()
        self.profile = profile
        self._n = 0
        self._start: float | None = None
        w, h = profile.width, profile.height
        self._chroma = b"\x80" * ((w // 2) * (h // 2))

    async def recv(self) -> VideoFrame:
        p = self.profile
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._n / p.fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        bar = max(p.width // 16, 2)
        x = (self._n * 8) % (p.width - bar)
        row = b"\x10" * x + b"\xeb" * bar + b"\x10" * (p.width - x - bar)
        frame = VideoFrame(p.width, p.height, "yuv420p")
        if frame.planes[0].line_size == p.width and frame.planes[1].line_size == p.width // 2:
            frame.planes[0].update(row * p.height)
            frame.planes[1].update(self._chroma)
            frame.planes[2].update(self._chroma)
        frame.pts = int(self._n * 90000 / p.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self._n += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """Generated audio: a 440 Hz tone, mono, 20 ms frames, at the profile's rate."""

    kind = "audio"

    def __init__(self, profile: AudioProfile = AudioProfile(), hz: float = 440.0) -> None:
        super().__init__()
        profile.check()
        self.RATE = profile.sample_rate
        self.SAMPLES = profile.sample_rate // 50
        self._n = 0
        self._start: float | None = None
        step = 2 * math.pi * hz / self.RATE
        period = int(round(self.RATE / hz)) * 10
        self._pcm = b"".join(int(8000 * math.sin(step * i)).to_bytes(2, "little", signed=True)
                             for i in range(period + self.SAMPLES))
        self._period = period

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._n * self.SAMPLES / self.RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        off = (self._n * self.SAMPLES) % self._period
        frame = AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        frame.planes[0].update(self._pcm[off * 2:(off + self.SAMPLES) * 2])
        frame.sample_rate = self.RATE
        frame.pts = self._n * self.SAMPLES
        frame.time_base = fractions.Fraction(1, self.RATE)
        self._n += 1
        return frame


def _classify(exc: BaseException) -> str:
    err = getattr(exc, "errno", None)
    if isinstance(exc, FileNotFoundError) or err in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return "notfound"
    if isinstance(exc, PermissionError) or err in (errno.EACCES, errno.EPERM):
        return "denied"
    if err == errno.EBUSY:
        return "busy"
    if err in (errno.EINVAL, errno.ERANGE):
        return "over"
    return "notfound"


def open_player(kind: str, path: str, fmt: str | None = None,
                options: dict[str, str] | None = None) -> MediaPlayer:
    """A MediaPlayer over a device or file, with open failures mapped to device codes."""
    if fmt in (None, "v4l2") and not os.path.exists(path):
        raise device_error(kind, "notfound", f"no {kind} device or file at {path}")
    try:
        player = MediaPlayer(path, format=fmt, options=options or {})
    except ValueError as e:  # ffmpeg has no such input format: no such device here
        raise device_error(kind, "notfound", f"cannot open {path}: {e}") from e
    except (OSError, av.FFmpegError) as e:
        raise device_error(kind, _classify(e), f"cannot open {path}: {e}") from e
    player_track(player, kind, path)
    return player


def player_track(player: MediaPlayer, kind: str, what: str = "the source") -> MediaStreamTrack:
    """The player's ``kind`` ('video' or 'audio') track; 'not found' when it has none."""
    track = player.video if kind == "video" else player.audio
    if track is None:
        raise device_error(kind, "notfound", f"{what} has no {kind}")
    return track


def open_screen(display: str | None = None) -> MediaPlayer:
    """The X screen through ffmpeg's x11grab; 2103 when it cannot be captured."""
    display = display or os.environ.get("DISPLAY", "")
    if not display:
        raise CodeError(SCREEN_REFUSED, "no display to capture (DISPLAY is not set)",
                        namespace="sdk")
    try:
        player = MediaPlayer(display, format="x11grab", options={"framerate": "15"})
    except (OSError, av.FFmpegError) as e:
        raise CodeError(SCREEN_REFUSED, f"screen capture refused: {e}", namespace="sdk") from e
    if player.video is None:
        raise CodeError(SCREEN_REFUSED, f"{display} gives no picture", namespace="sdk")
    return player


class WatchedTrack(MediaStreamTrack):
    """Forwards a source track and reports once when the source fails or ends (device lost)."""

    def __init__(self, source: MediaStreamTrack, on_lost: Callable[[str], None]) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.on_lost = on_lost
        self._lost = False

    async def recv(self) -> Frame | Packet:
        try:
            return await self.source.recv()
        except (MediaStreamError, OSError, av.FFmpegError) as e:
            if not self._lost:
                self._lost = True
                self.on_lost(f"{self.kind} source ended: {e!r}")
            self.stop()
            raise MediaStreamError from e

    def stop(self) -> None:
        super().stop()
        self.source.stop()
