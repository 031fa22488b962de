"""A whole node with its media plane on a test's Janus, for the tests that go through a node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from client_node import NodeEnv, running_node
from tkroom.media.bridge import StateSink, attach_media
from tkroom.media.janus_process import JanusSettings
from tkroom.media.plane import MediaPlane, MediaSettings


@asynccontextmanager
async def media_node(tmp_path: Path, janus: JanusSettings) -> AsyncIterator[tuple[NodeEnv, MediaPlane]]:
    """``running_node`` with a media plane on ``janus`` attached to its signalling, started,
    and stopped (after the test's own clean-up) on the way out."""
    async with running_node(tmp_path) as env:
        plane = MediaPlane(MediaSettings([janus.url], tmp_path / "media", embedded=False),
                           env.node.directory, StateSink(env.signal.state))
        attach_media(env.signal, plane.service)
        await plane.start()
        try:
            yield env, plane
        finally:
            await plane.stop()
