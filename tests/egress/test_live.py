"""The live stream through a real node and Janus: HLS segments showing the publisher."""

from __future__ import annotations

import httpx
import pytest

from egress.live_env import (
    LIVE_PASSWORD,
    bar_visible,
    checkroom_viewer,
    decode,
    has_audio,
    join,
    live_node,
    teacher_publishing,
    wait_segments,
)
from media.rtc import until
from tkroom.media.janus_process import JanusSettings

pytestmark = pytest.mark.media


async def test_viewer_gets_hls_of_the_publisher(in_netns, janus: JanusSettings, tmp_path) -> None:
    async with live_node(tmp_path, janus) as env:
        teacher, tmedia = await teacher_publishing(env)
        try:
            pull = (await checkroom_viewer(env))["pullinfo"]["hls"]
            viewer, _ = await join(env, "v1", LIVE_PASSWORD, role=3)
            live = env.node.live
            await until(lambda: env.serial in live.rooms and
                        len(live.rooms[env.serial].forwards) == 2, 20, "two streams forwarded")
            async with httpx.AsyncClient(timeout=30) as http:
                names = await wait_segments(http, pull, 3, 60)
                base = pull.rsplit("/", 1)[0]
                r = await http.get(f"{base}/{names[-1]}")
                assert r.headers["content-type"] == "video/mp2t"
                frames = decode(r.content)
                assert frames and (frames[0].width, frames[0].height) == (1280, 720)
                assert any(bar_visible(f, (960, 0, 320, 180)) for f in frames)
                assert has_audio(r.content)
            await viewer.leaveroom()
            await until(lambda: env.serial not in live.rooms, 20, "live stopped")
        finally:
            await tmedia.close()
            await teacher.leaveroom()
