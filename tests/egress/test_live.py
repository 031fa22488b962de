"""The live stream through a real node and Janus: a live viewer's HLS shows the class (the
publisher's test pattern in its camera slot, the board with a stroke drawn while it runs, the
publisher's tone), a killed ffmpeg comes back, and the stream stops when the viewers leave or
the class ends."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import httpx
import pytest

from client_node import PASSWORDS
from egress.live_env import (
    LIVE_PASSWORD,
    SEG_RE,
    bar_visible,
    checkroom_viewer,
    column_means,
    decode,
    has_audio,
    join,
    live_node,
    segments,
    teacher_publishing,
    wait_segments,
)
from media.rtc import until
from tkroom.media.janus_process import JanusSettings

pytestmark = pytest.mark.media

CAMERA = (960, 0, 320, 180)    # layout 0: the teacher's camera, first in the right column
BOARD_BAND = (80, 340, 800, 40)  # across the middle of the board (left three quarters)


def stroke(shape_id: str) -> dict[str, Any]:
    """A thick black line across the middle of the blank page, saved."""
    return {"name": "SharpsChange", "id": f"{shape_id}###_SharpsChange_0_1", "toID": "__all",
            "save": True, "data": {"eventType": "shapeSaveEvent", "shapeId": shape_id,
                                   "className": "Line",
                                   "data": {"x1": 0.02, "y1": 0.5, "x2": 0.98, "y2": 0.5,
                                            "color": "#000000", "width": 0.08}}}


async def newest_segment(http: httpx.AsyncClient, pull: str, after: int = 3) -> bytes:
    names = await wait_segments(http, pull, after, 60)
    r = await http.get(f"{pull.rsplit('/', 1)[0]}/{names[-1]}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "video/mp2t"
    assert "immutable" in r.headers["cache-control"]
    return r.content


def band_luma(data: bytes) -> float:
    frames = decode(data)
    cols = column_means(frames[-1], BOARD_BAND)
    return sum(cols) / len(cols)


async def test_viewer_watches_camera_board_and_audio(in_netns, janus: JanusSettings,
                                                     tmp_path) -> None:
    async with live_node(tmp_path, janus) as env:
        teacher, tmedia = await teacher_publishing(env)
        try:
            answer = await checkroom_viewer(env)
            pull = answer["pullinfo"]["hls"]
            assert pull.startswith(env.node.base_url + f"/live/{env.serial}/")
            viewer, _ = await join(env, "v1", LIVE_PASSWORD, role=3)
            live = env.node.live
            await until(lambda: env.serial in live.rooms and
                        len(live.rooms[env.serial].forwards) == 2, 20, "two streams forwarded")
            async with httpx.AsyncClient(timeout=30) as http:
                data = await newest_segment(http, pull)
                r = await http.get(pull)
                assert r.headers["content-type"] == "application/vnd.apple.mpegurl"
                assert r.headers["cache-control"] == "public, max-age=1"
                frames = decode(data)
                assert (frames[0].width, frames[0].height) == (1280, 720)
                assert any(bar_visible(f, CAMERA) for f in frames), "the camera's pattern"
                assert has_audio(data)
                assert band_luma(data) > 200, "a blank (white) page on the board"

                await teacher.pubMsg(stroke("s1"))
                seen = set(segments((await http.get(pull)).text))
                for _ in range(40):  # the still is replaced; ffmpeg re-reads it
                    await asyncio.sleep(0.5)
                    names = [n for n in segments((await http.get(pull)).text) if n not in seen]
                    if names:
                        seen.update(names)
                        seg = await http.get(f"{pull.rsplit('/', 1)[0]}/{names[-1]}")
                        if band_luma(seg.content) < 80:
                            break
                else:
                    raise AssertionError("the stroke never showed in the live stream")
                assert live.rooms[env.serial].starts == 1, "a board change needs no restart"

                wrong = pull.replace(pull.split("/")[-2], "0" * 32)
                assert (await http.get(wrong)).status_code == 404
            folder = live.rooms[env.serial].dir
            await viewer.leaveroom()
            await until(lambda: env.serial not in live.rooms, 20, "live stopped")
            assert not folder.exists()
        finally:
            await tmedia.close()
            await teacher.leaveroom()


async def test_killed_ffmpeg_comes_back_and_class_end_stops(in_netns, janus: JanusSettings,
                                                            tmp_path) -> None:
    async with live_node(tmp_path, janus) as env:
        teacher, tmedia = await teacher_publishing(env)
        try:
            await teacher.pubMsg(name="ClassBegin", id="ClassBegin", toID="__all", save=True,
                                 data={})
            pull = (await checkroom_viewer(env))["pullinfo"]["hls"]
            viewer, _ = await join(env, "v1", LIVE_PASSWORD, role=3)
            live = env.node.live
            async with httpx.AsyncClient(timeout=30) as http:
                await wait_segments(http, pull, 2, 60)
                lr = live.rooms[env.serial]
                pid = live.status()[env.serial]["pid"]
                before = set(segments((await http.get(pull)).text))
                os.kill(pid, signal.SIGKILL)  # our own child
                await until(lambda: lr.deaths == 1 and lr.starts == 2 and
                            live.status()[env.serial]["pid"] not in (None, pid), 20,
                            "ffmpeg restarted")

                async def fresh() -> bool:
                    return bool(set(segments((await http.get(pull)).text)) - before)

                for _ in range(60):
                    if await fresh():
                        break
                    await asyncio.sleep(0.5)
                else:
                    raise AssertionError("no new segment after the restart")
                data = await newest_segment(http, pull)
                assert any(bar_visible(f, CAMERA) for f in decode(data))
                metrics = (await http.get(f"{env.node.base_url}/metrics")).text
                assert "tkroom_live_streams 1.0" in metrics
                assert "tkroom_live_ffmpeg_restarts_total 1.0" in metrics

            await teacher.delMsg(name="ClassBegin", id="ClassBegin", toID="__all")
            await until(lambda: env.serial not in live.rooms, 20, "stopped at class end")
            assert await viewer_still_in(env, "v1")
            await viewer.leaveroom()
        finally:
            await tmedia.close()
            await teacher.leaveroom()


async def viewer_still_in(env, userid: str) -> bool:
    return bool(await env.signal.state.get_members(env.serial, [userid]))


async def test_rtmp_push_reaches_a_receiver(in_netns, janus: JanusSettings, tmp_path) -> None:
    port = 19350 + os.getpid() % 500
    received = tmp_path / "received.ts"
    receiver = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-listen", "1", "-i",
        f"rtmp://127.0.0.1:{port}/live/x", "-c", "copy", "-f", "mpegts", str(received),
        stdin=asyncio.subprocess.DEVNULL)
    try:
        async with live_node(tmp_path / "node", janus,
                             live_rtmp_url=f"rtmp://127.0.0.1:{port}/live/x") as env:
            teacher, tmedia = await teacher_publishing(env)
            try:
                await checkroom_viewer(env)
                viewer, _ = await join(env, "v1", LIVE_PASSWORD, role=3)
                await until(lambda: received.exists() and received.stat().st_size > 400_000,
                            90, "the receiver got a few seconds")
                await viewer.leaveroom()
            finally:
                await tmedia.close()
                await teacher.leaveroom()
        await asyncio.wait_for(receiver.wait(), 30)  # the push ended: the receiver finishes
    finally:
        if receiver.returncode is None:
            receiver.kill()
            await receiver.wait()
    frames = decode(received.read_bytes())
    assert len(frames) > 25
    assert (frames[0].width, frames[0].height) == (1280, 720)
    assert any(bar_visible(f, CAMERA) for f in frames)
    assert has_audio(received.read_bytes())


async def test_a_student_on_stage_joins_the_picture(in_netns, janus: JanusSettings,
                                                    tmp_path) -> None:
    """A new camera and microphone restart ffmpeg on the same playlist (a discontinuity,
    numbering goes on); the camera takes the next slot, the microphones are mixed; unpublishing
    frees the forwarder."""
    async with live_node(tmp_path, janus) as env:
        teacher, tmedia = await teacher_publishing(env)
        student, smedia = await join(env, "s1", PASSWORDS["confuserpwd"])
        try:
            pull = (await checkroom_viewer(env))["pullinfo"]["hls"]
            viewer, _ = await join(env, "v1", LIVE_PASSWORD, role=3)
            live = env.node.live
            async with httpx.AsyncClient(timeout=30) as http:
                first = await wait_segments(http, pull, 2, 60)
                lr = live.rooms[env.serial]
                starts = lr.starts
                await teacher.changeUserPublish("s1", 3)
                await until(lambda: student.getUser("s1")["properties"]["publishstate"] == 3,
                            what="on stage")
                await smedia.publishVideo()
                await smedia.publishAudio()
                await until(lambda: len(lr.forwards) == 4 and lr.starts > starts, 20,
                            "the student's camera and microphone forwarded, ffmpeg restarted")
                second_slot = (960, 180, 320, 180)
                for _ in range(60):
                    await asyncio.sleep(0.5)
                    text = (await http.get(pull)).text
                    data = (await http.get(f"{pull.rsplit('/', 1)[0]}/{segments(text)[-1]}"
                                           )).content
                    if any(bar_visible(f, second_slot) for f in decode(data)) and \
                            has_audio(data):  # two microphones mixed
                        break
                else:
                    raise AssertionError("the student's camera never showed in its slot")
                assert "#EXT-X-DISCONTINUITY" in text
                assert int(SEG_RE.search(segments(text)[-1]).group(1)) > \
                    int(SEG_RE.search(first[-1]).group(1))
            assert "amix=inputs=2" in " ".join(lr.argv)
            await smedia.unpublishVideo()
            await until(lambda: len(lr.forwards) == 3, 20, "its forwarder dropped")
            await viewer.leaveroom()
        finally:
            await smedia.close()
            await tmedia.close()
            await student.leaveroom()
            await teacher.leaveroom()
