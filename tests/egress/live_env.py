"""A whole node (HTTP, signalling, media on the test's Janus, the live compositor) and the
helpers the live tests share: joining with the SDK, reading the HLS output."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx

from client_node import PASSWORDS, NodeEnv, free_port
from tkroom.client import Room
from tkroom.client.media import MediaClient, attach
from tkroom.config import Settings
from tkroom.media.janus_process import JanusSettings
from tkroom.planes import build_node
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company

LIVE_PASSWORD = "watch1"


@contextlib.asynccontextmanager
async def live_node(tmp: Path, janus: JanusSettings, **more: Any) -> AsyncIterator[NodeEnv]:
    """``tkroom serve`` as ``build_node`` makes it, on ``janus``, with a room that admits live
    viewers (password ``LIVE_PASSWORD``)."""
    first = 51000 + (free_port() % 400) * 2
    settings = Settings(host="127.0.0.1", port=0, signal_port=free_port(), data_dir=tmp,
                        throttle_base_s=0.001, throttle_max_s=0.01, janus_urls=[janus.url],
                        embedded_janus=False, live_ports=f"{first}-{first + 99}", **more)
    node = build_node(settings, state=MemoryState(), grace=5.0, sweep_interval=0.05,
                      courseware=False)
    await node.start()
    try:
        async with node.sessions() as s:
            c = await create_company(s, "School")
            await s.commit()
        env = NodeEnv(node, node.signal, c.authkey)
        env.serial = await env.create_room(maxusers=50, allowsidelineuser=1,
                                           sidelineuserpwd=LIVE_PASSWORD)
        yield env
    finally:
        await node.stop()


async def join(env: NodeEnv, userid: str, password: str, role: int | None = None,
               ) -> tuple[Room, MediaClient]:
    room = Room()
    room.init("app")
    media = attach(room)
    params: dict[str, Any] = {"serial": env.serial, "password": password}
    if role is not None:
        params["userrole"] = role
    await room.joinroom("127.0.0.1", env.port, userid, userid, params)
    return room, media


async def teacher_publishing(env: NodeEnv) -> tuple[Room, MediaClient]:
    teacher, media = await join(env, "t1", PASSWORDS["chairmanpwd"])
    await media.publishVideo()
    await media.publishAudio()
    return teacher, media


async def checkroom_viewer(env: NodeEnv, userid: str = "v1") -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=env.node.base_url, timeout=30) as http:
        r = await http.post("/ClientAPI/checkroom", data={
            "serial": env.serial, "nickname": userid, "password": LIVE_PASSWORD,
            "userrole": "3", "userid": userid})
    body = r.json()
    assert body["result"] == 0, body
    return body


def segments(playlist: str) -> list[str]:
    return [ln for ln in playlist.splitlines() if ln and not ln.startswith("#")]


async def wait_segments(http: httpx.AsyncClient, url: str, n: int, within: float) -> list[str]:
    """Poll the playlist until it names ``n`` segments; their names."""
    deadline = time.monotonic() + within
    last = ""
    while time.monotonic() < deadline:
        r = await http.get(url)
        if r.status_code == 200:
            last = r.text
            if len(segments(last)) >= n:
                return segments(last)
        await asyncio.sleep(0.3)
    raise AssertionError(f"fewer than {n} segments in {within} s; playlist: {last!r}")


def decode(data: bytes) -> list[av.VideoFrame]:
    """The video frames of one MPEG-TS segment."""
    import io

    with av.open(io.BytesIO(data), format="mpegts") as c:
        return [f for f in c.decode(video=0)]


def has_audio(data: bytes) -> bool:
    import io

    with av.open(io.BytesIO(data), format="mpegts") as c:
        return bool(c.streams.audio) and any(True for _ in c.decode(audio=0))


def column_means(frame: av.VideoFrame, rect: tuple[int, int, int, int]) -> list[float]:
    """Mean luma of each column of the middle half (in height) of ``rect`` (x, y, w, h)."""
    plane = frame.planes[0]
    data, stride = bytes(plane), plane.line_size
    x0, y0, w, h = rect
    rows = range(y0 + h // 4, y0 + 3 * h // 4, 4)
    return [sum(data[r * stride + c] for r in rows) / len(rows) for c in range(x0 + 4, x0 + w - 4)]


def bar_visible(frame: av.VideoFrame, rect: tuple[int, int, int, int]) -> bool:
    """The SDK's test pattern (a bright moving bar on black) is inside ``rect``: a few columns
    bright, most dark."""
    cols = column_means(frame, rect)
    return sum(c > 150 for c in cols) >= 2 and sum(c < 60 for c in cols) > len(cols) // 2


SEG_RE = re.compile(r"seg-(\d+)\.ts")
