"""The SDK's board model without a socket: join answers built by hand per docs/board.md (the
compact ``board`` field and plain msglist entries), live pubMsg/delMsg events, strokes in
progress, this user's undo history, and the local checks of what a program sends."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tkroom.client import ClientError, Room
from tkroom.client.board import (
    MAX_STROKE_NUMBERS,
    MAX_STROKES,
    check_page,
    check_shape,
    check_show,
    expand,
)
from tkroom.client.mirror import RoomMirror
from tkroom.rooms import board as server_board

PEN = {"points": [0.1, 0.2, 0.1034, 0.2051], "color": "#e53935", "width": 0.004}
TEXT = {"x": 0.3, "y": 0.4, "text": "x²", "color": "#000000", "size": 0.03}
BOX = {"x1": 0.1, "y1": 0.1, "x2": 0.5, "y2": 0.6, "color": "#1e88e5", "width": 0.002}
SHOW = {"name": "ShowPage", "id": "DocumentFilePage_ShowPage", "save": True, "seq": 5,
        "fromID": "t", "toID": "__all",
        "data": {"fileid": 12, "currpage": 3, "pagenum": 9, "filename": "a.pdf",
                 "filetype": "pdf", "zoom": 2}}
COUNT = {"name": "WBPageCount", "id": "WBPageCount", "save": True, "seq": 2, "fromID": "t",
         "toID": "__all", "data": {"fileid": 0, "totalPage": 4}}
OTHER = {"name": "ClassBegin", "id": "ClassBegin", "save": True, "seq": 1, "fromID": "t",
         "toID": "__all", "data": {}}


def shape_msg(sid: str, page: str, who: str, seq: int, cls: str, data: dict) -> dict:
    """A saved shape exactly as docs/board.md shows it (with the ts a live one carries)."""
    return {"name": "SharpsChange", "id": f"{sid}###_SharpsChange_{page}", "save": True,
            "toID": "__all", "fromID": who, "seq": seq, "ts": 1000 + seq,
            "associatedMsgID": f"Page_{page}",
            "data": {"eventType": "shapeSaveEvent", "shapeId": sid, "className": cls,
                     "data": data}}


def answer(**over) -> dict:
    a = {"self": {"id": "me", "properties": {"role": 2}},
         "userlist": [{"id": "t", "properties": {"role": 0}}], "room": {}, "s": 0,
         "msglist": [SHOW, COUNT, OTHER],
         "board": {"12_3": [["k3f9a2", "t", 17, "Pen", PEN],
                            ["b71c0d", "me", 18, "Text", TEXT]],
                   "0_2": [["z-9", "me", 7, "Rectangle", BOX]]}}
    a.update(over)
    return a


def loaded(**over) -> RoomMirror:
    m = RoomMirror()
    m.load(answer(**over))
    return m


def names(applied) -> list[str]:
    return [n for n, _ in applied.events]


def test_the_compact_board_becomes_the_saved_messages_it_stands_for() -> None:
    m = loaded()
    ids = [msg["id"] for msg in m.messages()]
    assert ids == ["ClassBegin", "WBPageCount", "DocumentFilePage_ShowPage",
                   "z-9###_SharpsChange_0_2", "k3f9a2###_SharpsChange_12_3",
                   "b71c0d###_SharpsChange_12_3"]  # seq order, shapes among the others
    pen = m.msgs["k3f9a2###_SharpsChange_12_3"]
    assert pen == {"name": "SharpsChange", "id": "k3f9a2###_SharpsChange_12_3", "save": True,
                   "toID": "__all", "fromID": "t", "seq": 17, "associatedMsgID": "Page_12_3",
                   "data": {"eventType": "shapeSaveEvent", "shapeId": "k3f9a2",
                            "className": "Pen", "data": PEN}}
    b = m.board
    assert b.page == "12_3" and b.show["zoom"] == 2 and b.blank_pages == 4
    assert [(s["shapeId"], s["fromID"], s["seq"], s["className"]) for s in b.shapes("12_3")] \
        == [("k3f9a2", "t", 17, "Pen"), ("b71c0d", "me", 18, "Text")]
    assert b.shapes("12_3")[1]["data"] == TEXT
    assert [s["shapeId"] for s in b.shapes("0_2")] == ["z-9"]
    assert b.shapes("12_4") == []


def test_shapes_as_plain_msglist_entries_give_the_same_board() -> None:
    """A server that does not compact (the msglist carries every shape) and one that does
    leave the same board and the same saved messages (but for ts, which the compact form
    has no room for)."""
    plain = loaded(board=None, msglist=[
        SHOW, COUNT, OTHER, shape_msg("b71c0d", "12_3", "me", 18, "Text", TEXT),
        shape_msg("k3f9a2", "12_3", "t", 17, "Pen", PEN),
        shape_msg("z-9", "0_2", "me", 7, "Rectangle", BOX)])
    compact = loaded()
    assert plain.board.snapshot() == compact.board.snapshot()
    strip = [{k: v for k, v in msg.items() if k != "ts"} for msg in plain.messages()]
    assert strip == compact.messages()
    # both at once (a server midway): the same again
    both = loaded(msglist=[SHOW, COUNT, OTHER], board={"12_3": [["k3f9a2", "t", 17, "Pen", PEN]]})
    both.apply("pubMsg", shape_msg("b71c0d", "12_3", "me", 18, "Text", TEXT), 1)
    assert [s["shapeId"] for s in both.board.shapes("12_3")] == ["k3f9a2", "b71c0d"]


_entry = st.tuples(st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True),
                   st.text(min_size=1, max_size=8), st.integers(0, 10**6),
                   st.sampled_from(["Pen", "Text", "Line"]),
                   st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5),
                                   max_size=3)).map(list)


@settings(max_examples=200, deadline=None)
@given(board=st.dictionaries(st.from_regex(r"(0|[1-9][0-9]{0,3})_[1-9][0-9]{0,3}",
                                           fullmatch=True),
                             st.lists(_entry, max_size=4), max_size=4))
def test_the_sdk_rebuilds_what_the_server_compacted(board) -> None:
    """The SDK's expansion is the server's reference (``tkroom.rooms.board.expand``), and
    compacting what it rebuilt gives the same board back."""
    mine = sorted(expand(board), key=lambda m: m["seq"])
    assert mine == server_board.expand(board)
    rest, again = server_board.compact(mine)
    assert rest == []
    assert again == {p: sorted(e, key=lambda x: x[2]) for p, e in board.items() if e}


def test_malformed_compact_entries_are_left_out() -> None:
    board = {"12_3": [["ok", "t", 3, "Pen", PEN], ["bad id!", "t", 4, "Pen", PEN],
                      ["short", "t", 5], ["s", None, 6, "Pen", PEN], ["s2", "t", "7", "Pen", PEN],
                      ["s3", "t", 8, "Pen", "not a dict"], "junk"],
             "12_0": [["p0", "t", 9, "Pen", PEN]], "x_1": [["p1", "t", 9, "Pen", PEN]],
             "3_1": "junk"}
    assert [m["id"] for m in expand(board)] == ["ok###_SharpsChange_12_3"]
    assert expand(None) == [] and expand([1, 2]) == []


def test_live_shapes_replace_erase_and_clear() -> None:
    m = loaded()
    out = m.apply("pubMsg", shape_msg("n1", "12_3", "t", 30, "Line", BOX), 1)
    assert names(out) == ["room-pubmsg", "board-shape"]
    assert out.events[1][1]["page"] == "12_3" and not out.events[1][1]["replaced"]
    out = m.apply("pubMsg", shape_msg("k3f9a2", "12_3", "t", 31, "Pen", {**PEN, "width": 0.01}),
                  2)
    assert out.events[1][1]["replaced"]
    assert [s["shapeId"] for s in m.board.shapes("12_3")] == ["b71c0d", "n1", "k3f9a2"]
    assert m.board.shape("12_3", "k3f9a2")["data"]["width"] == 0.01
    out = m.apply("delMsg", {"name": "SharpsChange", "id": "n1###_SharpsChange_12_3",
                             "fromID": "t"}, 3)
    assert names(out) == ["room-delmsg", "board-erase"]
    assert out.events[1][1]["shape"]["className"] == "Line"
    assert "n1###_SharpsChange_12_3" not in m.msgs
    out = m.apply("pubMsg", {"name": "SharpsChange", "id": "clear###_SharpsChange_12_3",
                             "save": False, "fromID": "t", "toID": "__all",
                             "data": {"eventType": "clearEvent"}}, 4)
    assert names(out) == ["room-pubmsg", "board-clear"]
    assert [s["shapeId"] for s in out.events[1][1]["shapes"]] == ["b71c0d", "k3f9a2"]
    assert m.board.shapes("12_3") == []
    assert [s["shapeId"] for s in m.board.shapes("0_2")] == ["z-9"]  # other pages stay
    assert not any(i.endswith("_12_3") for i in m.msgs)  # the saved messages follow the clear
    assert "clear###_SharpsChange_12_3" not in m.msgs


def test_pages_follow_the_saved_show_page_and_page_count() -> None:
    m = loaded(msglist=[], board={})
    assert m.board.page == "0_1" and m.board.blank_pages == 1 and m.board.show is None
    out = m.apply("pubMsg", {**SHOW, "data": {**SHOW["data"], "currpage": 4}}, 1)
    assert names(out) == ["room-pubmsg", "board-page"]
    assert out.events[1][1]["page"] == "12_4" and m.board.page == "12_4"
    bad = m.apply("pubMsg", {**SHOW, "data": {"fileid": 12, "currpage": 0}}, 2)
    assert names(bad) == ["room-pubmsg"] and m.board.page == "12_4"
    unsaved = m.apply("pubMsg", {**SHOW, "save": False, "data": {**SHOW["data"], "currpage": 5}},
                      3)
    assert names(unsaved) == ["room-pubmsg"] and m.board.page == "12_4"
    m.apply("pubMsg", {**COUNT, "data": {"fileid": 0, "totalPage": 7}}, 4)
    assert m.board.blank_pages == 7
    out = m.apply("delMsg", {"name": "ShowPage", "id": "DocumentFilePage_ShowPage"}, 5)
    assert names(out) == ["room-delmsg", "board-page"] and m.board.page == "0_1"


def seg(sid: str, seq: int, points: list, who: str = "t", page: str = "12_3") -> dict:
    return {"name": "SharpsChange", "id": f"{sid}###_SharpsDrawing_{page}", "fromID": who,
            "toID": "__allExceptSender", "save": False,
            "data": {"eventType": "drawingEvent", "shapeId": sid, "className": "Pen",
                     "seq": seq, "data": {"points": points, "color": "#e53935",
                                          "width": 0.004}}}


def test_segments_build_a_stroke_until_the_saved_shape_replaces_it() -> None:
    m = loaded()
    out = m.apply("pubMsg", seg("s1", 0, [0.1, 0.1, 0.2, 0.2]), 1)
    assert names(out) == ["room-pubmsg", "board-segment"]
    m.apply("pubMsg", seg("s1", 1, [0.3, 0.3]), 2)
    assert names(m.apply("pubMsg", seg("s1", 1, [0.9, 0.9]), 3)) == ["room-pubmsg"]  # again
    (stroke,) = m.board.strokes.values()
    assert stroke["data"]["points"] == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]
    assert stroke["data"]["color"] == "#e53935" and stroke["fromID"] == "t"
    assert "s1###_SharpsDrawing_12_3" not in m.msgs  # never saved
    out = m.apply("pubMsg", shape_msg("s1", "12_3", "t", 40, "Pen",
                                      {**PEN, "points": [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]}), 4)
    assert out.events[1][1]["ended_stroke"] and not m.board.strokes


def test_strokes_in_progress_are_bounded_and_go_with_their_author() -> None:
    m = loaded()
    for i in range(MAX_STROKES + 5):
        m.apply("pubMsg", seg(f"s{i}", 0, [0.5, 0.5], who="u2" if i % 2 else "t"), None)
    assert len(m.board.strokes) == MAX_STROKES
    big = [0.5] * 1000
    for n in range(MAX_STROKE_NUMBERS // 1000 + 5):
        m.apply("pubMsg", seg("long", n, big), None)
    assert len(m.board.strokes[("12_3", "long")]["data"]["points"]) == MAX_STROKE_NUMBERS
    m.apply("participantLeft", {"id": "u2"}, None)
    assert all(s["fromID"] != "u2" for s in m.board.strokes.values())


def test_laser_pointers() -> None:
    m = loaded()
    laser = {"name": "SharpsChange", "id": "laser###_SharpsChange_12_3", "fromID": "t",
             "data": {"eventType": "laserMarkEvent", "x": 0.5, "y": 0.25, "visible": True}}
    out = m.apply("pubMsg", laser, 1)
    assert out.events[1] == ("board-laser", {"page": "12_3", "x": 0.5, "y": 0.25,
                                             "visible": True, "fromID": "t"})
    assert m.board.lasers["t"]["x"] == 0.5
    m.apply("pubMsg", {**laser, "data": {"eventType": "laserMarkEvent", "visible": False}}, 2)
    assert m.board.lasers == {}
    nested = {**laser, "data": {"eventType": "laserMarkEvent",
                                "data": {"x": 0.1, "y": 0.2, "visible": True}}}
    m.apply("pubMsg", nested, 3)  # the mark may also sit in data.data
    assert m.board.lasers["t"]["y"] == 0.2
    assert names(m.apply("pubMsg", {**laser, "data": {"eventType": "laserMarkEvent"}}, 4)) \
        == ["room-pubmsg"]  # showing without a position: nothing to show


def test_the_undo_history_is_rebuilt_from_this_users_saved_shapes() -> None:
    m = loaded()
    b = m.board
    assert [a.shape["shapeId"] for a in b.history["12_3"].undo] == ["b71c0d"]
    assert [a.shape["shapeId"] for a in b.history["0_2"].undo] == ["z-9"]
    # a shape of ours someone else erased is not undone again: nothing left on 12_3
    m.apply("delMsg", {"name": "SharpsChange", "id": "b71c0d###_SharpsChange_12_3"}, 1)
    assert b.take_undo("12_3") is None
    a = b.take_undo("0_2")
    assert a is not None and a.kind == "add" and a.shape["shapeId"] == "z-9"
    # a clear forgets the page's history
    b.done("0_2", a, undone=False)
    m.apply("pubMsg", {"name": "SharpsChange", "id": "clear###_SharpsChange_0_2",
                       "data": {"eventType": "clearEvent"}, "fromID": "t"}, 2)
    assert b.take_undo("0_2") is None


@settings(max_examples=300, deadline=None)
@given(mid=st.sampled_from(["x###_SharpsChange_12_3", "x###_SharpsDrawing_12_3",
                            "clear###_SharpsChange_12_3", "laser###_SharpsChange_1_1",
                            "DocumentFilePage_ShowPage", "WBPageCount", "x###_SharpsChange_1_0"]),
       name=st.sampled_from(["SharpsChange", "ShowPage", "WBPageCount"]),
       event=st.sampled_from(["shapeSaveEvent", "drawingEvent", "clearEvent", "laserMarkEvent",
                              None, 3]),
       inner=st.recursive(st.none() | st.booleans() | st.floats() | st.integers()
                          | st.text(max_size=5),
                          lambda i: st.lists(i, max_size=4) | st.dictionaries(
                              st.sampled_from(["points", "x", "y", "visible", "seq", "data",
                                               "fileid", "currpage", "pagenum", "totalPage"]),
                              i, max_size=5), max_leaves=12),
       save=st.booleans(), delete=st.booleans())
def test_any_board_message_is_applied_or_ignored_never_a_crash(mid, name, event, inner, save,
                                                               delete) -> None:
    m = loaded()
    data = {"eventType": event, "data": inner, "seq": 0, "x": inner, "fileid": inner}
    if delete:
        m.apply("delMsg", {"name": name, "id": mid, "data": data}, 1)
    else:
        m.apply("pubMsg", {"name": name, "id": mid, "save": save, "data": data}, 1)
    snap = m.board.snapshot()
    assert snap["page"] and snap["blank_pages"] >= 1


def bad(fn, *args) -> str:
    with pytest.raises(ClientError) as e:
        fn(*args)
    assert e.value.code == 103
    return e.value.message


def test_what_a_program_sends_is_checked_as_the_server_will() -> None:
    check_shape("Pen", PEN)
    check_shape("Text", TEXT)
    check_shape("Ellipse", BOX)
    assert "className" in bad(check_shape, "Star", PEN)
    assert "color" in bad(check_shape, "Pen", {**PEN, "color": "red"})
    assert "color" in bad(check_shape, "Pen", {**PEN, "color": "#12345"})
    check_shape("Pen", {**PEN, "points": [-0.5, 1.5]})  # a stroke may leave the page...
    assert "beyond" in bad(check_shape, "Pen", {**PEN, "points": [0.1, 2.2]})  # ...not far
    assert "points" in bad(check_shape, "Pen", {**PEN, "points": [0.1, 0.2, 0.3]})
    assert "points" in bad(check_shape, "Pen", {**PEN, "points": []})
    bad(check_shape, "Pen", {**PEN, "points": [0.1, True]})
    bad(check_shape, "Pen", {**PEN, "points": [0.1, float("nan")]})
    assert "width" in bad(check_shape, "Pen", {**PEN, "width": 1.5})
    assert "x2" in bad(check_shape, "Line", {**BOX, "x2": -1.1})
    assert "text" in bad(check_shape, "Text", {**TEXT, "text": "x" * 4097})
    assert "size" in bad(check_shape, "Text", {**TEXT, "size": "big"})
    bad(check_shape, "Pen", [1, 2])
    assert check_page((12, 3)) == "12_3" and check_page("0_1") == "0_1"
    assert check_page((9999999999, 999999)) == "9999999999_999999"
    for page in ("12_0", "12", "-1_2", (1, 0), (True, 1), "1_2_3", 5, "01_1", (1, 1000000),
                 (10**10, 1)):
        bad(check_page, page)
    check_show({"fileid": 0, "currpage": 2, "pagenum": 2, "filename": "", "filetype": ""})
    assert "page" in bad(check_show, {"fileid": 0, "currpage": 100_001, "pagenum": 100_001,
                                      "filename": "", "filetype": ""})
    assert "pagenum" in bad(check_show, {"fileid": 3, "currpage": 4, "pagenum": 3,
                                         "filename": "", "filetype": ""})


_any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(call=st.sampled_from(["show_page", "next_page", "prev_page", "set_blank_pages",
                             "document_changed", "draw", "draw_segment", "erase", "undo",
                             "redo", "clear_page", "laser"]),
       args=st.lists(_any, max_size=4), initialised=st.booleans())
def test_any_arguments_to_a_board_call_answer_a_code_never_a_crash(call, args,
                                                                   initialised) -> None:
    """Out of a room a board call fails with the SDK's codes only: 101 before init, else 103
    (bad arguments) or 2508 (not in a room)."""
    import asyncio

    async def run() -> int:
        room = Room()
        if initialised:
            room.init()
        try:
            await getattr(room.board, call)(*args)
        except ClientError as exc:
            return exc.code
        except TypeError:
            return 0  # a wrong number of arguments: Python's own answer
        raise AssertionError("a board call out of a room cannot succeed")

    code = asyncio.run(run())
    assert code in ((0, 103, 2508) if initialised else (0, 101))
