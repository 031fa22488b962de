"""aiortc helpers for media tests: generated video, frame counting, SDP as dicts."""

from __future__ import annotations

import asyncio
import fractions
import time

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from av import VideoFrame


def peer() -> RTCPeerConnection:
    """A PeerConnection without STUN (no DNS, no route out of the namespace)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def local_sdp(pc: RTCPeerConnection, *, offer: bool) -> dict[str, str]:
    desc = await (pc.createOffer() if offer else pc.createAnswer())
    await pc.setLocalDescription(desc)
    return {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}


def remote(jsep: dict[str, str]) -> RTCSessionDescription:
    return RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"])


class FrameCounter:
    """Consumes a received track, counting decoded frames."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.frames = 0
        self.first = asyncio.get_running_loop().create_future()
        self.size: tuple[int, int] | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            frame = await self.track.recv()
            self.frames += 1
            if isinstance(frame, VideoFrame):
                self.size = (frame.width, frame.height)
            if not self.first.done():
                self.first.set_result(time.monotonic())

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


class PatternTrack(MediaStreamTrack):
    """A 640x480 video of moving bars, generated in-process (no camera needed)."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._n / self.fps
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = VideoFrame(self.width, self.height, "yuv420p")
        x = (self._n * 8) % (self.width - 40)
        row = b"\x10" * x + b"\xeb" * 40 + b"\x10" * (self.width - x - 40)
        frame.planes[0].update(row * self.height)
        chroma = b"\x80" * (self.width // 2) * (self.height // 2)
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = self._n * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        self._n += 1
        return frame


async def until(cond, within: float = 15.0, what: str = "condition") -> None:
    """Poll ``cond()`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
