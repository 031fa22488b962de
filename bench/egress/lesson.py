"""A recorded lesson at the level after janus-pp-rec, made without Janus: one folder as the
recorder leaves it (``events.jsonl``, per-publication ``<base>-video.webm`` / ``-audio.opus``,
the shown pages' images). The benchmark and the compositor's tests feed it to the compositor.

Each publisher's video is ffmpeg's test pattern, black with a white flash at ``flash_s`` (and
its audio a tone with a 1 kHz beep at the same instant) when asked, so a test can find the
flash and the beep in the output and measure their drift.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from tkroom.rooms.scene import dumps, end_line, event_line, start_line, track_line

AT_MS = 1_700_000_000_000


@dataclass
class Publisher:
    userid: str
    role: int            # 0 teacher, 2 student
    start_ms: int = 0
    end_ms: int = -1     # -1: the class's end
    hz: int = 440
    flash_s: float | None = None  # a white flash and a beep at this time of its own file


@dataclass
class Lesson:
    """What the lesson holds; ``make`` writes it."""

    duration_ms: int
    publishers: list[Publisher]
    width: int = 640
    height: int = 360
    fps: int = 15
    layout: int = 0
    pages: int = 3
    page_turns: list[tuple[int, int]] = field(default_factory=list)  # (t ms, page)
    strokes: list[tuple[int, int, list[float], str]] = field(default_factory=list)
    chat: list[tuple[int, str]] = field(default_factory=list)
    fileid: int = 7


def page_color(page: int) -> tuple[int, int, int]:
    """Each page of the made-up document is a flat colour a test can recognise."""
    return [(250, 240, 200), (200, 230, 250), (220, 250, 210), (250, 210, 230)][(page - 1) % 4]


def make_page(path: Path, page: int) -> None:
    img = Image.new("RGB", (1600, 1200), page_color(page))
    d = ImageDraw.Draw(img)
    d.text((80, 80), f"Page {page}", fill=(0, 0, 0), font_size=96)
    img.save(path, quality=90)


def _ffmpeg(argv: list[str]) -> None:
    r = subprocess.run(["ffmpeg", "-y", "-v", "error", *argv], capture_output=True, text=True,
                       check=False, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"ffmpeg: {r.stderr[-400:]}")


def make_media(base: Path, pub: Publisher, seconds: float, width: int, height: int,
               fps: int) -> None:
    """``<base>-video.webm`` (VP8) and ``<base>-audio.opus`` as janus-pp-rec writes them
    (ffmpeg's sine source is at 1/8 of full scale: the beep is raised to 7/8, the tone under
    it kept at 1/20)."""
    if pub.flash_s is not None:
        f = pub.flash_s
        video = (f"color=c=black:s={width}x{height}:r={fps}:d={seconds},"
                 f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:"
                 f"enable='between(t,{f},{f + 0.2})'")
        audio = (f"sine=f={pub.hz}:r=48000:d={seconds},volume=0.4[t];"
                 f"sine=f=1000:r=48000:d={seconds},volume=7,"
                 f"volume=enable='not(between(t,{f},{f + 0.2}))':volume=0[b];"
                 f"[t][b]amix=inputs=2:normalize=0")
    else:
        video = f"testsrc2=s={width}x{height}:r={fps}:d={seconds}"
        audio = f"sine=f={pub.hz}:r=48000:d={seconds},volume=2"
    _ffmpeg(["-f", "lavfi", "-i", video, "-c:v", "libvpx", "-deadline", "realtime",
             "-cpu-used", "8", "-b:v", "400k", "-g", str(fps * 4),
             str(base) + "-video.webm"])
    _ffmpeg(["-f", "lavfi", "-i", audio, "-c:a", "libopus", "-b:a", "32k", "-ac", "1",
             str(base) + "-audio.opus"])


def shape(sid: str, page: int, points: list[float], color: str, fileid: int) -> dict[str, Any]:
    return {"name": "SharpsChange", "id": f"{sid}###_SharpsChange_{fileid}_{page}",
            "toID": "__all", "save": True, "fromID": "t",
            "data": {"eventType": "shapeSaveEvent", "shapeId": sid, "className": "Pen",
                     "data": {"points": points, "color": color, "width": 0.01}}}


def show_page(page: int, lesson: Lesson) -> dict[str, Any]:
    return {"name": "ShowPage", "id": "DocumentFilePage_ShowPage", "toID": "__all",
            "save": True, "fromID": "t",
            "data": {"fileid": lesson.fileid, "currpage": page, "pagenum": lesson.pages,
                     "filename": "lesson.pdf", "filetype": "pdf"}}


def make(folder: Path, lesson: Lesson, rid: str = "rec") -> Path:
    """Write the lesson into ``folder`` (the recording's folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, lesson.pages + 1):
        make_page(folder / f"page-{lesson.fileid}_{n}.jpg", n)
    members = [{"id": p.userid, "properties": {"role": p.role, "nickname": p.userid.upper(),
                                                "publishstate": 3}}
               for p in lesson.publishers]
    lines: list[dict[str, Any]] = []
    for p in lesson.publishers:
        end = lesson.duration_ms if p.end_ms < 0 else p.end_ms
        base = f"{rid}-{p.userid}_video_default-0"
        make_media(folder / base, p, (end - p.start_ms) / 1000, lesson.width, lesson.height,
                   lesson.fps)
        lines.append(track_line(p.start_ms, p.userid, f"{p.userid}:video:default", "video",
                                base, True))
        lines.append(track_line(end, p.userid, f"{p.userid}:video:default", "video", base,
                                False))
    for t, page in lesson.page_turns:
        lines.append(event_line(t, "pubMsg", show_page(page, lesson)))
    for i, (t, page, pts, color) in enumerate(lesson.strokes):
        lines.append(event_line(t, "pubMsg", shape(f"s{i}", page, pts, color, lesson.fileid)))
    for t, text in lesson.chat:
        lines.append(event_line(t, "sendMessage", {"fromID": "t", "nickname": "T",
                                                   "toID": "__all", "message": text}))
    lines.sort(key=lambda r: r["t"])
    with open(folder / "events.jsonl", "w", encoding="utf-8") as f:
        f.write(dumps(start_line(AT_MS, "1234567890", {"roomlayout": lesson.layout},
                                 members, [show_page(1, lesson)])) + "\n")
        for rec in lines:
            f.write(dumps(rec) + "\n")
        f.write(dumps(end_line(lesson.duration_ms)) + "\n")
    return folder


def busy_lesson(minutes: float, publishers: int = 3, seed: int = 1) -> Lesson:
    """A lesson of ``minutes``: a teacher and students on camera, a stroke every 3 s, a page
    turn every 2 minutes, a chat line every 20 s."""
    rnd = random.Random(seed)
    ms = int(minutes * 60_000)
    pubs = [Publisher("t", 0, hz=330)] + [Publisher(f"s{i}", 2, hz=440 + 110 * i)
                                          for i in range(1, publishers)]
    pages = 4
    turns = [(t, (t // 120_000) % pages + 1) for t in range(120_000, ms, 120_000)]
    strokes = []
    for t in range(3000, ms, 3000):
        page = (t // 120_000) % pages + 1
        pts = [round(rnd.random(), 4) for _ in range(40)]
        strokes.append((t, page, pts, rnd.choice(["#e53935", "#1e88e5", "#43a047"])))
    chat = [(t, f"line {t // 1000}") for t in range(20_000, ms, 20_000)]
    return Lesson(ms, pubs, pages=pages, page_turns=turns, strokes=strokes, chat=chat)


def describe(lesson: Lesson) -> dict[str, Any]:
    return json.loads(json.dumps({"duration_ms": lesson.duration_ms,
                                  "publishers": len(lesson.publishers),
                                  "strokes": len(lesson.strokes),
                                  "page_turns": len(lesson.page_turns)}))
