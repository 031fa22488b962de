"""A scripted lesson through a node, Janus and the Python SDK, recorded and composited: what a
student who missed it downloads (issue 14's test of the compositor with real parts).

The teacher publishes a camera that is black but for a white flash and a microphone that is a
quiet tone but for a beep at the same instant (two publications, as the SDK makes them); a
student on stage publishes the SDK's test pattern and tone. The teacher shows a converted PDF
(page 1: a red lower half; page 2: blue), draws a green stroke on page 1, turns to page 2 and
chats. The merged MP4 is then looked at frame by frame.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from pathlib import Path

import httpx
import pytest
from aiortc import MediaStreamTrack
from av import AudioFrame, VideoFrame

from client_node import PASSWORDS, NodeEnv
from egress_media import beep_time, close, duration, flash_time, frame_at, mean_color, streams
from media.nodes import media_node
from media.rtc import until
from media.test_node_media import join
from tkroom.courseware.convert import pdf_file
from tkroom.egress.plane import EgressPlane, EgressSettings
from tkroom.media.janus_process import JanusSettings
from tkroom.media.recording import tools_available

pytestmark = [pytest.mark.media,
              pytest.mark.skipif(not tools_available(), reason="janus-pp-rec / ffmpeg missing")]

W, H = 1280, 720
# an A4 page fitted into layout 0's 960x720 board: 508 px wide, centred at x = 480
UPPER = (440, 150, 80, 60)    # the upper half's white, where the stroke goes (y = 0.25)
LOWER = (440, 520, 80, 80)    # the coloured lower half
TEACHER_SLOT = (960, 0, 320, 180)
GREEN, RED, BLUE, WHITE = (0, 160, 0), (255, 0, 0), (0, 0, 255), (255, 255, 255)


def two_colour_pdf() -> bytes:
    """Page 1 red below its middle, page 2 blue; white above."""
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for rgb in ("1 0 0", "0 0 1"):
        content = f"{rgb} rg 0 0 595 421 re f".encode()
        objs.append(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream")
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                    f"/Contents {len(objs)} 0 R >>".encode())
        kids.append(f"{len(objs)} 0 R")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count 2 >>".encode()
    return pdf_file(objs)


class Clock:
    """When the flash and the beep happen (monotonic), shared by both tracks."""

    flash_at = float("inf")
    length = 0.3

    def on(self, t: float) -> bool:
        return self.flash_at <= t < self.flash_at + self.length


class FlashVideo(MediaStreamTrack):
    kind = "video"

    def __init__(self, clock: Clock, fps: int = 15) -> None:
        super().__init__()
        self.clock, self.fps, self.n, self.start = clock, fps, 0, 0.0

    async def recv(self) -> VideoFrame:
        if not self.start:
            self.start = time.monotonic()
        due = self.start + self.n / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        y = 235 if self.clock.on(due) else 16
        f = VideoFrame(320, 240, "yuv420p")
        f.planes[0].update(bytes([y]) * (320 * 240))
        f.planes[1].update(b"\x80" * (160 * 120))
        f.planes[2].update(b"\x80" * (160 * 120))
        f.pts, f.time_base = self.n * 6000, fractions.Fraction(1, 90000)
        self.n += 1
        return f


class BeepAudio(MediaStreamTrack):
    kind = "audio"
    RATE, SAMPLES = 48000, 960

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock, self.n, self.start = clock, 0, 0.0

    async def recv(self) -> AudioFrame:
        if not self.start:
            self.start = time.monotonic()
        due = self.start + self.n * self.SAMPLES / self.RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        pcm = bytearray()
        for i in range(self.SAMPLES):
            t = due + i / self.RATE
            amp = 28000 if self.clock.on(t) else 600
            pcm += int(amp * math.sin(2 * math.pi * 1000 * t)).to_bytes(2, "little", signed=True)
        f = AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        f.planes[0].update(bytes(pcm))
        f.sample_rate = self.RATE
        f.pts, f.time_base = self.n * self.SAMPLES, fractions.Fraction(1, self.RATE)
        self.n += 1
        return f


async def converted_pdf(env: NodeEnv) -> int:
    async with httpx.AsyncClient(base_url=env.node.base_url, timeout=60) as http:
        up = (await http.post("/WebAPI/uploadfile",
                              data={"key": env.key, "serial": env.serial, "conversion": 1},
                              files={"filedata": ("colours.pdf", two_colour_pdf())})).json()
        assert up["result"] == 0, up
        for _ in range(600):
            files = (await http.post("/WebAPI/getroomfile", data={"key": env.key,
                                                                  "serial": env.serial})).json()
            f = next(x for x in files["roomfile"] if x["fileid"] == up["fileid"])
            if f["status"] in (1, 2):
                assert f["status"] == 1, f
                return int(up["fileid"])
            await asyncio.sleep(0.1)
    raise AssertionError("the PDF was not converted within 60 s")


async def test_a_recorded_lesson_becomes_the_mp4_students_would_have_seen(
        in_netns, janus: JanusSettings, tmp_path: Path) -> None:
    async with media_node(tmp_path, janus) as (env, plane):
        egress = EgressPlane(EgressSettings(plane.service.recorder.record_dir, width=W, height=H,
                                            per_user=True, retry_s=0.5),
                             env.node.directory, env.signal.state, env.node.storage)
        plane.service.recorder.listeners.append(egress)
        plane.service.recorder.legacy = False
        await egress.start()
        teacher, tmedia = await join(env, "t1", PASSWORDS["chairmanpwd"])
        student, smedia = await join(env, "s1", PASSWORDS["confuserpwd"])
        try:
            fileid = await converted_pdf(env)
            clock = Clock()
            await teacher.changeUserPublish("s1", 3)
            await until(lambda: student.getUser("s1")["properties"]["publishstate"] == 3,
                        what="on stage")
            await tmedia.publishVideo(FlashVideo(clock))
            await tmedia.publishAudio(BeepAudio(clock))
            await smedia.publishVideo()
            await smedia.publishAudio()
            await tmedia.waitForStream("s1", "video")
            v = await tmedia.playVideo("s1")
            await until(lambda: v.frames_received > 15, 20, "the student's frames")

            await teacher.pubMsg(name="ClassBegin", id="ClassBegin", toID="__all", save=True,
                                 data={"record": True, "recordtype": "0"})
            began = time.monotonic()

            async def at(s: float) -> None:
                await asyncio.sleep(max(0.0, began + s - time.monotonic()))

            await at(1.0)
            await teacher.board.show_page(fileid, 1, pagenum=2, filename="colours.pdf",
                                          filetype="pdf")
            await at(3.0)
            await teacher.board.draw("Pen", {"points": [0.2, 0.25, 0.5, 0.25, 0.8, 0.25],
                                             "color": "#00a000", "width": 0.03})
            await at(6.0)
            assert await teacher.board.next_page() == f"{fileid}_2"
            await at(7.0)
            await student.sendMessage("a question")
            await at(8.0)
            clock.flash_at = time.monotonic()
            await at(11.0)
            await teacher.delMsg(name="ClassBegin", id="ClassBegin", toID="__all")
            length = time.monotonic() - began

            def listed() -> bool:
                return any(j.registered for j in _jobs(plane))
            await until(listed, 300, "the compositor's job")
            records = (await env.webapi("getrecordlist", serial=env.serial))["recordlist"]
        finally:
            await tmedia.close()
            await smedia.close()
            await student.leaveroom()
            await teacher.leaveroom()
            await egress.stop()

    by = {(r["recordtype"], r["userid"]): r for r in records}
    assert {(0, ""), (8, ""), (1, "t1"), (1, "s1")} <= set(by), records
    assert all(r["state"] == 1 for r in records), records
    folder = _folder(plane)
    mp4 = folder / "composite.mp4"
    s = streams(mp4)
    assert s["video"]["codec_name"] == "h264" and (s["video"]["width"], s["video"]["height"]) == (W, H)
    assert s["audio"]["codec_name"] == "aac"
    assert abs(duration(mp4) - length) <= 1.0, (duration(mp4), length)

    # the board as students saw it, second by second
    blank = frame_at(mp4, 0.5)              # before the page was shown: the blank board
    assert close(mean_color(blank, LOWER), WHITE)
    page1 = frame_at(mp4, 2.5)
    assert close(mean_color(page1, LOWER), RED, 40) and close(mean_color(page1, UPPER), WHITE)
    drawn = frame_at(mp4, 4.5)
    assert close(mean_color(drawn, LOWER), RED, 40)
    assert close(mean_color(drawn, (440, 174, 80, 12)), GREEN, 50)   # the stroke at y = 0.25
    page2 = frame_at(mp4, 7.5)
    assert close(mean_color(page2, LOWER), BLUE, 40)
    assert close(mean_color(page2, (440, 174, 80, 12)), WHITE)       # the stroke stays on 1

    # the flash and the beep, published as two publications, stay within 100 ms
    flash, beep = flash_time(mp4, TEACHER_SLOT), beep_time(mp4)
    assert flash is not None and beep is not None, (flash, beep)
    assert abs(flash - beep) < 0.1, (flash, beep)
    assert abs(flash - 8.0) < 1.0  # and about where the class had it
    log = (folder / "events.jsonl").read_text()
    assert '"kind":"track"' in log and "a question" in log and "SharpsDrawing" not in log
    assert {p.name for p in folder.glob("page-*.jpg")} == {f"page-{fileid}_1.jpg",
                                                          f"page-{fileid}_2.jpg"}
    assert not list(folder.glob("*.mjr"))  # Janus's files go once the outputs exist


def _folder(plane) -> Path:
    folders = [p.parent for p in plane.service.recorder.record_dir.glob("*/*/job.json")]
    assert len(folders) == 1, folders
    return folders[0]


def _jobs(plane) -> list:
    from tkroom.egress.jobs import read_job
    return [j for p in plane.service.recorder.record_dir.glob("*/*/job.json")
            if (j := read_job(p.parent)) is not None]
