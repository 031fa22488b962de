"""A recorded lesson's folder written by hand, as docs/recordings.md specifies it: an event log
(events.jsonl) with strokes, an erase, a clear, page turns, chat and people coming and going,
and optionally its media made by ffmpeg (a test pattern and a tone). Every time and place the
playback tests check is a constant here, so the assertions name what the lesson held."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEACHER = {"id": "t1", "properties": {"nickname": "Ms Li", "role": 0, "publishstate": 3}}
STUDENT = {"id": "s1", "properties": {"nickname": "Wang Wei", "role": 2, "publishstate": 0}}
LATE = {"id": "s2", "properties": {"nickname": "Late Lucy", "role": 2, "publishstate": 0}}

RED = (0xE5, 0x39, 0x35)
BLUE = (0x1E, 0x88, 0xE5)
GREEN = (0x43, 0xA0, 0x47)


@dataclass(frozen=True)
class Stroke:
    """A horizontal pen stroke at height ``y`` from ``x0`` to ``x1`` (page fractions)."""

    shape_id: str
    page: str
    y: float
    x0: float
    x1: float
    color: tuple[int, int, int]

    @property
    def middle(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, self.y

    def message(self, seq: int) -> dict[str, Any]:
        pts = []
        for k in range(11):
            pts += [round(self.x0 + (self.x1 - self.x0) * k / 10, 4), self.y]
        return {"name": "SharpsChange", "id": f"{self.shape_id}###_SharpsChange_{self.page}",
                "toID": "__all", "save": True, "fromID": TEACHER["id"], "seq": seq,
                "associatedMsgID": f"Page_{self.page}",
                "data": {"eventType": "shapeSaveEvent", "shapeId": self.shape_id, "className": "Pen",
                         "data": {"points": pts, "color": "#" + bytes(self.color).hex(), "width": 0.012}}}


# The lesson, in ms since its start.
SAVED_STROKE = Stroke("saved0", "0_1", 0.15, 0.1, 0.4, BLUE)   # on the board before recording began
RED_STROKE = Stroke("red1", "0_1", 0.3, 0.1, 0.4, RED)         # t = 2000
BLUE_STROKE = Stroke("blue2", "0_2", 0.5, 0.5, 0.9, BLUE)       # t = 5000, on page 2
GREEN_STROKE = Stroke("green3", "0_1", 0.7, 0.5, 0.9, GREEN)    # t = 8000, page 1 again
T_RED, T_PAGE2, T_BLUE, T_CHAT1, T_BACK, T_GREEN, T_CHAT2, T_ERASE, T_CLEAR = (
    2000, 4000, 5000, 5500, 7000, 8000, 8500, 9500, 11000)
T_LATE_JOIN, T_STUDENT_LEFT = 3000, 6000
DURATION = 12000
CHAT1 = "Page two: the blue line"
CHAT2 = "我们回到第一页"
PRIVATE = "a private word"


def show_page(n: int, total: int) -> dict[str, Any]:
    return {"name": "ShowPage", "id": "DocumentFilePage_ShowPage", "toID": "__all", "save": True,
            "fromID": TEACHER["id"], "data": {"fileid": 0, "currpage": n, "pagenum": total,
                                               "filename": "", "filetype": ""}}


def chat(user: dict[str, Any], text: str, at_ms: int, to: str = "__all") -> dict[str, Any]:
    p = user["properties"]
    return {"fromID": user["id"], "nickname": p["nickname"], "role": p["role"], "toID": to,
            "message": {"msg": text, "type": 0}, "ts": at_ms}


def lesson_lines(at_ms: int = 1_767_000_000_000) -> list[dict[str, Any]]:
    """The event log's objects, in order."""
    ev = lambda t, name, data: {"t": t, "kind": "event", "name": name, "data": data}  # noqa: E731
    count2 = {"name": "WBPageCount", "id": "WBPageCount", "toID": "__all", "save": True,
              "fromID": TEACHER["id"], "data": {"fileid": 0, "totalPage": 2}}
    return [
        {"v": 1, "kind": "start", "t": 0, "at_ms": at_ms, "serial": "123456",
         "room": {"roomname": "Geometry", "roomlayout": 0},
         "members": [TEACHER, STUDENT], "saved": [show_page(1, 1), SAVED_STROKE.message(1)]},
        {"t": 0, "kind": "track", "userid": "t1", "stream_id": "t1:video", "type": "video",
         "file": "t1-video", "on": True},
        ev(T_RED - 400, "pubMsg", {"name": "SharpsChange", "id": "red1###_SharpsDrawing_0_1",
                                   "toID": "__allExceptSender", "data": {"eventType": "drawingEvent"}}),
        ev(T_RED, "pubMsg", RED_STROKE.message(2)),
        ev(T_LATE_JOIN, "participantJoined", LATE),
        ev(T_PAGE2, "pubMsg", count2),
        ev(T_PAGE2, "pubMsg", show_page(2, 2)),
        ev(T_BLUE, "pubMsg", BLUE_STROKE.message(3)),
        ev(T_CHAT1, "sendMessage", chat(TEACHER, CHAT1, at_ms + T_CHAT1)),
        ev(T_CHAT1 + 100, "sendMessage", chat(STUDENT, PRIVATE, at_ms + T_CHAT1 + 100, to="t1")),
        ev(T_STUDENT_LEFT, "participantLeft", {"id": STUDENT["id"]}),
        ev(T_BACK, "pubMsg", show_page(1, 2)),
        ev(T_BACK + 10, "someFutureEvent", {"x": 1}),
        {"t": T_BACK + 20, "kind": "someFutureKind"},
        ev(T_GREEN, "pubMsg", GREEN_STROKE.message(4)),
        ev(T_CHAT2, "sendMessage", chat(LATE, CHAT2, at_ms + T_CHAT2)),
        ev(T_ERASE, "delMsg", {"name": "SharpsChange", "id": "red1###_SharpsChange_0_1",
                               "toID": "__all", "fromID": TEACHER["id"]}),
        ev(T_CLEAR, "pubMsg", {"name": "SharpsChange", "id": "clear###_SharpsChange_0_1", "toID": "__all",
                               "fromID": TEACHER["id"], "data": {"eventType": "clearEvent"}}),
        {"t": DURATION, "kind": "end"},
    ]


def write_log(folder: Path, lines: list[dict[str, Any]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "events.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines or lesson_lines()),
                    encoding="utf-8")
    return path


def write_media(folder: Path, seconds: float = DURATION / 1000, video: bool = True) -> Path:
    """composite.mp4 (H.264/AAC) or audio.m4a (AAC): a test pattern and a 440 Hz tone."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / ("composite.mp4" if video else "audio.m4a")
    inputs = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    if video:
        inputs = ["-f", "lavfi", "-i", f"testsrc=size=320x180:rate=10:duration={seconds}", *inputs]
        codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    else:
        codecs = ["-c:a", "aac"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, *codecs, "-movflags", "+faststart",
                    "-shortest", str(out)], check=True, timeout=120)
    return out
