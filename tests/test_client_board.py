"""The board through the Python SDK against a whole node (HTTP checkroom/getconfig, then the
socket), as a program driving a class uses it: the teacher shows pages and draws, the others'
board models follow, a late joiner's equals the teacher's, undo/redo are each author's own.
The server is the authority (``tkroom/rooms/board.py``): who may draw, a clear removing the
saved shapes, malformed messages and the drawing rate refused with its codes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from client_helpers import Watched
from client_node import running_node
from tkroom.client import ClientError, Room

ROOT = Path(__file__).resolve().parent.parent
PEN = {"points": [0.1, 0.2, 0.1034, 0.2051], "color": "#e53935", "width": 0.004}
BOX = {"x1": 0.1, "y1": 0.1, "x2": 0.5, "y2": 0.6, "color": "#1e88e5", "width": 0.002}
TEXT = {"x": 0.3, "y": 0.4, "text": "x²", "color": "#000000", "size": 0.03}

async def enter(env, userid: str, password: str, **opts) -> Watched:
    room = Room()
    room.init("app", **opts)
    w = Watched(room)
    w.answer = await room.joinroom("127.0.0.1", env.port, userid.upper(), userid,
                                   {"serial": env.serial, "password": password})
    return w


async def until(what: Callable[[], bool], why: str, wait: float = 10.0) -> None:
    deadline = time.monotonic() + wait
    while not what():
        if time.monotonic() > deadline:
            raise TimeoutError(why)
        await asyncio.sleep(0.01)


def ids(w: Watched, page: str | None = None) -> list[str]:
    return [s["shapeId"] for s in w.room.board.shapes(page)]


async def code_of(call) -> int:
    with pytest.raises(ClientError) as e:
        await call
    return e.value.code


async def test_a_student_sees_the_page_and_the_shapes_the_teacher_draws(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "t1", "teach1")
        s = await enter(env, "s1", "stud1")
        assert s.room.board.page == "0_1" and s.room.board.shapes() == []
        await t.room.board.show_page(12, 3, pagenum=9, filename="algebra.pdf", filetype="pdf")
        ev = await s.wait("board-page")
        assert ev["page"] == "12_3" and ev["show"]["filename"] == "algebra.pdf"
        assert s.room.board.page == "12_3" and s.room.board.show["pagenum"] == 9
        pen = await t.room.board.draw("Pen", PEN)
        text = await t.room.board.draw("Text", TEXT)
        shape = await s.wait("board-shape", lambda e: e["shapeId"] == text)
        assert shape["page"] == "12_3" and shape["shape"]["fromID"] == "t1"
        assert ids(s) == [pen, text] == ids(t)
        assert s.room.board.shape(pen)["data"] == PEN
        # the mirror's saved messages carry them as the protocol's SharpsChange messages
        saved = {m["id"]: m for m in s.room.getMsgList()}
        msg = saved[f"{pen}###_SharpsChange_12_3"]
        assert msg["data"]["className"] == "Pen" and msg["associatedMsgID"] == "Page_12_3"
        # turning pages keeps the file; shapes stay with their page
        assert await t.room.board.next_page() == "12_4"
        await s.wait("board-page", lambda e: e["page"] == "12_4")
        assert s.room.board.shapes() == [] and ids(s, "12_3") == [pen, text]
        assert s.room.board.show["filename"] == "algebra.pdf"
        assert await code_of(t.room.board.show_page(12, 10)) == 103  # algebra.pdf has 9 pages
        assert await t.room.board.prev_page() == "12_3"
        await s.wait("board-page", lambda e: e["page"] == "12_3" and e["fromID"] == "t1"
                     and s.room.board.page == "12_3")
        await t.room.board.set_blank_pages(3)
        await s.wait("board-page", lambda e: e["blank_pages"] == 3)
        await t.room.board.show_page(0, 3)
        await s.wait("board-page", lambda e: e["page"] == "0_3")
        assert await code_of(t.room.board.next_page()) == 103  # the last blank page
        assert s.room.board.snapshot() == t.room.board.snapshot()


async def test_erase_undo_redo_as_seen_by_another_client_and_a_late_joiner(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "t1", "teach1")
        a = await enter(env, "a1", "assist1")
        s = await enter(env, "s1", "stud1")
        tb = t.room.board
        one = await tb.draw("Pen", PEN)
        two = await tb.draw("Rectangle", BOX)
        mine = await a.room.board.draw("Ellipse", BOX)  # someone else's: not in t1's history
        await until(lambda: ids(s) == [one, two, mine], "the student sees three shapes")
        await tb.erase(one)
        await s.wait("board-erase", lambda e: e["shapeId"] == one)
        assert ids(s) == [two, mine]
        assert await tb.undo() == one  # the erase undone: the shape is back
        await until(lambda: ids(s) == [two, mine, one], "the erased shape came back")
        assert s.room.board.shape(one)["data"] == PEN
        assert await tb.undo() == two  # undoing a drawing erases it
        await until(lambda: ids(s) == [mine, one], "the rectangle is undone")
        assert await tb.redo() == two
        await until(lambda: ids(s) == [mine, one, two], "the rectangle is redone")
        assert await tb.redo() == one  # the erase again
        await until(lambda: ids(s) == [mine, two], "the pen is erased again")
        assert await tb.redo() is None  # nothing more to redo
        assert await tb.undo() == one  # the erase undone...
        assert await tb.undo() == two
        await until(lambda: ids(s) == [mine, one], "two undone, one back")
        assert await tb.undo() == one  # ...and drawing one: gone
        assert await tb.undo() is None  # the assistant's ellipse is not ours to undo
        await until(lambda: ids(s) == [mine], "only the assistant's shape is left")
        late = await enter(env, "s2", "stud1")
        assert ids(late) == [mine]
        # the shapes came compacted in the join answer's board; the SDK rebuilt the messages
        assert [e[0] for e in late.answer["board"]["0_1"]] == [mine]
        assert not any(m["name"] == "SharpsChange" for m in late.answer["msglist"])
        assert [m["id"] for m in late.room.getMsgList() if m["name"] == "SharpsChange"] == \
            [f"{mine}###_SharpsChange_0_1"]
        assert [m["id"] for m in late.named("room-connected")[0]["message"]] == \
            [m["id"] for m in late.room.getMsgList()]
        assert late.room.board.snapshot() == t.room.board.snapshot() == s.room.board.snapshot()
        # a changed shape (same id) and undoing the change
        await tb.draw("Pen", PEN, shapeId="k3f9a2")
        await tb.draw("Pen", {**PEN, "color": "#000000"}, shapeId="k3f9a2")
        await until(lambda: (late.room.board.shape("k3f9a2") or {}).get("data", {})
                    .get("color") == "#000000", "the change reached the late joiner")
        assert await tb.undo() == "k3f9a2"
        await until(lambda: late.room.board.shape("k3f9a2")["data"]["color"] == "#e53935",
                    "undoing a change brings the old version back")
        assert await code_of(tb.erase("nosuchshape")) == 103


async def test_history_survives_a_resume_and_is_rebuilt_after_a_reload(tmp_path):
    async with running_node(tmp_path) as env:
        s = await enter(env, "s1", "stud1")  # keeps the room (and its board) alive
        t = await enter(env, "t1", "teach1")
        a = await enter(env, "a1", "assist1")
        first = await t.room.board.draw("Pen", PEN)
        second = await t.room.board.draw("Line", BOX)
        theirs = await a.room.board.draw("Text", TEXT)
        await t.room.board.erase(first)
        t.room.drop_connection()
        await t.wait("room-reconnected")
        assert t.named("room-reconnected")[0]["resumed"] is True
        assert await t.room.board.undo() == first  # the erase, remembered across the resume
        await until(lambda: ids(s) == [second, theirs, first], "the erase undone")
        await t.room.leaveroom()
        # a reload: the history is what the saved shapes say t1 drew, in seq order
        again = await enter(env, "t1", "teach1")
        assert ids(again) == [second, theirs, first]
        assert await again.room.board.undo() == first
        assert await again.room.board.undo() == second
        assert await again.room.board.undo() is None
        await until(lambda: ids(s) == [theirs], "only the assistant's text is left")
        assert await again.room.board.redo() == second
        await until(lambda: ids(s) == [theirs, second], "redone after the reload")


async def test_segments_arrive_before_the_saved_stroke(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "t1", "teach1")
        s = await enter(env, "s1", "stud1")
        tb = t.room.board
        await tb.draw_segment("stroke-1", [0.1, 0.1, 0.2, 0.2], 0, color="#e53935", width=0.01)
        await tb.draw_segment("stroke-1", [0.3, 0.25], 1, color="#e53935", width=0.01)
        await s.wait("board-segment", lambda e: e["seq"] == 1)
        (stroke,) = s.room.board.strokes()
        assert stroke["data"] == {"points": [0.1, 0.1, 0.2, 0.2, 0.3, 0.25],
                                  "color": "#e53935", "width": 0.01}
        assert stroke["fromID"] == "t1" and s.room.board.shapes() == []
        await tb.draw_segment("stroke-1", [0.4, 0.3], 2, color="#e53935", width=0.01)
        await tb.draw("Pen", {"points": [0.1, 0.1, 0.2, 0.2, 0.3, 0.25, 0.4, 0.3],
                              "color": "#e53935", "width": 0.01}, shapeId="stroke-1")
        saved = await s.wait("board-shape", lambda e: e["shapeId"] == "stroke-1")
        assert saved["ended_stroke"]
        kinds = [(e.type, e.get("seq")) for e in s.seen if e.type in ("board-segment",
                                                                      "board-shape")]
        assert kinds == [("board-segment", 0), ("board-segment", 1), ("board-segment", 2),
                         ("board-shape", None)]
        assert s.room.board.strokes() == [] and ids(s) == ["stroke-1"]
        assert not t.named("board-segment"), "segments go to the others, not back"
        assert all("SharpsDrawing" not in m["id"] for m in s.room.getMsgList())
        late = await enter(env, "s2", "stud1")
        assert late.room.board.strokes() == [] and ids(late) == ["stroke-1"]


async def test_the_laser_pointer(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "t1", "teach1")
        s = await enter(env, "s1", "stud1")
        await t.room.board.laser(0.5, 0.25)
        ev = await s.wait("board-laser")
        assert (ev["x"], ev["y"], ev["visible"], ev["fromID"], ev["page"]) == \
            (0.5, 0.25, True, "t1", "0_1")
        assert s.room.board.lasers()["t1"]["x"] == 0.5
        await t.room.board.laser(0.5, 0.25, visible=False)
        await s.wait("board-laser", lambda e: not e["visible"])
        assert s.room.board.lasers() == {}
        assert not any("laser" in m["id"] for m in s.room.getMsgList())


async def test_courseware_changes_are_announced(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "t1", "teach1")
        s = await enter(env, "s1", "stud1")
        await t.room.board.document_changed("add", 7)
        ev = await s.wait("board-document")
        assert (ev["action"], ev["fileid"], ev["fromID"]) == ("add", 7, "t1")
        assert not any(m["name"] == "DocumentChange" for m in s.room.getMsgList())
        assert await code_of(s.room.board.document_changed("delete", 7)) == 4108
        assert await code_of(t.room.board.document_changed("rename", 7)) == 103


async def test_bad_arguments_are_103_before_anything_travels(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "t1", "teach1")
        s = await enter(env, "s1", "stud1")
        tb = t.room.board
        for call in (tb.draw("Star", PEN), tb.draw("Pen", {**PEN, "color": "red"}),
                     tb.draw("Pen", {**PEN, "points": [0.5, 2.5]}), tb.draw("Pen", PEN, page="3"),
                     tb.draw("Pen", PEN, shapeId="no spaces"), tb.draw("Pen", PEN, shapeId="clear"),
                     tb.draw_segment("s", [0.1], 0), tb.draw_segment("s", [], 0),
                     tb.draw_segment("s", [0.1, 0.1], -1),
                     tb.draw_segment("s", [0.1, 0.1], 0, className="Line"),
                     tb.laser(2.5, 0.5), tb.laser(0.5, 0.5, visible="yes"),
                     tb.show_page(-1, 1), tb.show_page(3, 4, pagenum=2), tb.show_page(0, 2),
                     tb.set_blank_pages(0), tb.set_blank_pages(1001), tb.prev_page(),
                     tb.undo(page="x"), tb.clear_page(page=(1, 0))):
            assert await code_of(call) == 103
        await tb.draw("Pen", PEN)
        await s.wait("board-shape")
        assert len(s.room.board.shapes()) == 1 and not s.named("board-page")
        idle = Room()
        idle.init()
        assert await code_of(idle.board.draw("Pen", PEN)) == 2508
        assert await code_of(idle.board.undo()) == 2508
        assert await code_of(Room().board.draw("Pen", PEN)) == 101


async def test_clear_seen_by_another_client_and_a_late_joiner(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "t1", "teach1")
        s = await enter(env, "s1", "stud1")
        await t.room.board.show_page(12, 3, pagenum=9)
        for _ in range(3):
            await t.room.board.draw("Pen", PEN)
        other = await t.room.board.draw("Pen", PEN, page="12_4")
        await until(lambda: len(s.room.board.shapes()) == 3, "three shapes on 12_3")
        await t.room.board.clear_page()
        ev = await s.wait("board-clear")
        assert ev["page"] == "12_3" and len(ev["shapes"]) == 3
        assert s.room.board.shapes() == [] and ids(s, "12_4") == [other]
        assert not s.named("board-erase"), "one clear, not one delMsg per shape"
        late = await enter(env, "s2", "stud1")
        assert late.room.board.shapes() == [] and ids(late, "12_4") == [other]
        assert late.room.board.snapshot() == t.room.board.snapshot()
        assert not any(m["id"].endswith("_12_3") and m["name"] == "SharpsChange"
                       for m in late.room.getMsgList())


async def test_the_servers_refusals_surface_with_their_codes(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "t1", "teach1")
        s = await enter(env, "s1", "stud1")
        sb = s.room.board
        mine = await t.room.board.draw("Pen", PEN)
        assert await code_of(sb.draw("Pen", PEN)) == 4108  # no candraw
        assert await code_of(sb.show_page(12, 1)) == 4108
        assert await code_of(sb.clear_page()) == 4108
        await t.room.changeUserProperty("s1", "__all", {"candraw": True})
        await s.wait("room-userproperty-changed", lambda e: e["message"].get("candraw"))
        theirs = await sb.draw("Text", TEXT)
        await t.wait("board-shape", lambda e: e["shapeId"] == theirs)
        assert await code_of(sb.erase(mine)) == 4108  # the teacher's shape
        assert await code_of(sb.draw("Pen", PEN, shapeId=mine)) == 4108
        assert await code_of(sb.show_page(12, 1)) == 4108  # candraw is not the teacher's pages
        assert await sb.undo() == theirs
        await t.wait("board-erase", lambda e: e["shapeId"] == theirs)
        # a malformed board message the SDK would never build: the server's 103
        bad = {"eventType": "shapeSaveEvent", "shapeId": "x1", "className": "Pen",
               "data": {**PEN, "color": "red"}}
        assert await code_of(t.room.pubMsg(name="SharpsChange", id="x1###_SharpsChange_0_1",
                                           save=True, data=bad)) == 103
        # too fast: refused with 2602, never silently dropped
        # (sent at once, so that a slow machine cannot stretch them below the rate)
        answers = await asyncio.gather(*(t.room.board.laser(0.5, i / 400) for i in range(400)),
                                       return_exceptions=True)
        refused = [a for a in answers if a is not None]
        assert refused and {a.code for a in refused} == {2602}
        assert len(refused) < 400 - 60, "a burst's worth went through"
        marks = await s.wait("board-laser", lambda e: e["y"] == 0)
        assert marks["fromID"] == "t1"
        assert ids(t) == [mine] and ids(s) == [mine]


async def painter(env, password: str) -> tuple[int, str]:
    """Run examples/board_painter.py against the node: its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "board_painter.py"), "--port", str(env.port),
        "--serial", env.serial, "--password", password,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode()


async def test_the_example_painter_draws_for_the_class(tmp_path):
    async with running_node(tmp_path) as env:
        s = await enter(env, "s1", "stud1")
        code, out = await painter(env, "teach1")
        assert code == 0, out
        await s.wait("room-participant_leave", lambda e: e["id"] == "painter")
        shapes = s.room.board.shapes()
        assert [x["className"] for x in shapes] == ["Ellipse", "Line", "Pen", "Text"]
        assert shapes[3]["data"]["text"] == "Hello, class"
        assert all(x["fromID"] == "painter" for x in shapes)
        wave = shapes[2]
        segments = [e for e in s.seen if e.type == "board-segment"]
        assert [e["seq"] for e in segments] == list(range(len(segments))) and len(segments) == 6
        assert segments[-1]["stroke"]["data"]["points"] == wave["data"]["points"]
        shape_events = [e.type for e in s.seen if e.type in ("board-segment", "board-shape")]
        assert shape_events == ["board-shape"] * 2 + ["board-segment"] * 6 + ["board-shape"] * 2
        assert [e["visible"] for e in s.named("board-laser")] == [True, False]
        code, out = await painter(env, "stud1")  # a student without candraw
        assert code == 2 and "cannot draw: 4108" in out
        assert len(s.room.board.shapes()) == 4
