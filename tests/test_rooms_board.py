"""The board's rules without sockets: who may draw, what a board message must look like, the
limits, the drawing rate and the compact join-answer form (docs/board.md)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tkroom.errors import CodeError
from tkroom.rooms import board, decisions
from tkroom.rooms import transitions as t
from tkroom.rooms.model import new_member

LIMITS = board.BoardLimits(max_shapes=5, max_shape_bytes=2048, rate=10)


def person(uid: str, role: int, **props):
    m = new_member(uid, role, uid.upper(), f"s-{uid}", {}, 0)
    m.properties.update(props)
    return m


TEACHER, ASSISTANT = person("t", 0), person("a", 1)
STUDENT, DRAWER = person("s", 2), person("d", 2, candraw=True)
VIEWER, INSPECTOR = person("v", 3), person("i", 4)


def pen(shape_id: str = "k3f9a2", page: str = "12_3", **over) -> dict:
    data = {"eventType": "shapeSaveEvent", "shapeId": shape_id, "className": "Pen",
            "data": {"points": [0.1, 0.2, 0.1034, 0.2051], "color": "#e53935", "width": 0.004}}
    data.update(over)
    return {"name": "SharpsChange", "id": f"{shape_id}###_SharpsChange_{page}", "save": True,
            "toID": "__all", "data": data}


def code_of(fn, *args) -> int:
    with pytest.raises(CodeError) as exc:
        fn(*args)
    return exc.value.code


def test_who_may_draw():
    assert [board.may_draw(m) for m in (TEACHER, ASSISTANT, STUDENT, DRAWER, VIEWER,
                                        INSPECTOR)] == [True, True, False, True, False, False]
    # only a real true grants it, and a viewer or inspector given candraw still may not
    assert not board.may_draw(person("x", 2, candraw="true"))
    assert not board.may_draw(person("y", 3, candraw=True))
    assert not board.may_draw(person("z", 4, candraw=True))


def test_a_shape_is_saved_on_its_page_whatever_the_client_says():
    for who in (TEACHER, ASSISTANT, DRAWER):
        msg = {**pen(), "associatedMsgID": "ClassBegin", "associatedUserID": who.userid,
               "expires": 5}
        pub = board.check_pubmsg(who, msg, 1000, LIMITS)
        assert pub.kind == "shape" and pub.parent == "Page_12_3"
        assert pub.msg["save"] is True and pub.msg["associatedMsgID"] == "Page_12_3"
        assert "associatedUserID" not in pub.msg and "expires" not in pub.msg
        assert pub.msg["fromID"] == who.userid and pub.msg["ts"] == 1000
        assert pub.target.kind == "all"
    # a drawing student reaches everyone, or everyone but itself
    pub = board.check_pubmsg(DRAWER, {**pen(), "toID": "__allExceptSender"}, 0, LIMITS)
    assert pub.target.kind == "except_sender"


@pytest.mark.parametrize("who", [STUDENT, VIEWER, INSPECTOR])
def test_who_may_not_draw_gets_4108(who):
    segment = {"name": "SharpsChange", "id": "k1###_SharpsDrawing_0_1",
               "toID": "__allExceptSender",
               "data": {"eventType": "drawingEvent", "seq": 0, "data": {"points": [0.1, 0.1]}}}
    laser = {"name": "SharpsChange", "id": "laser###_SharpsChange_0_1", "toID": "__allExceptSender",
             "data": {"eventType": "laserMarkEvent", "data": {"x": 0.5, "y": 0.5, "visible": True}}}
    for msg in (pen(), segment, laser):
        assert code_of(board.check_pubmsg, who, msg, 0, LIMITS) == 4108
    assert code_of(board.check_delmsg, who, {"name": "SharpsChange",
                                             "id": "k3f9a2###_SharpsChange_12_3"}, 0) == 4108


def test_page_messages_and_clear_are_the_super_users():
    show = {"name": "ShowPage", "id": "DocumentFilePage_ShowPage", "save": True, "toID": "__all",
            "data": {"fileid": 12, "currpage": 3, "pagenum": 9, "filename": "a.pdf",
                     "filetype": "pdf", "extra": [1]}}
    count = {"name": "WBPageCount", "id": "WBPageCount", "toID": "__all",
             "data": {"fileid": 0, "totalPage": 4}}
    change = {"name": "DocumentChange", "id": "DocumentChange", "toID": "__all", "save": True,
              "data": {"action": "add", "fileid": 12}}
    clear = {"name": "SharpsChange", "id": "clear###_SharpsChange_12_3", "toID": "__all",
             "data": {"eventType": "clearEvent"}}
    for who in (TEACHER, ASSISTANT):
        assert board.check_pubmsg(who, show, 0, LIMITS).msg["save"] is True
        assert board.check_pubmsg(who, show, 0, LIMITS).msg["data"]["extra"] == [1]
        assert board.check_pubmsg(who, count, 0, LIMITS).kind == "page"
        pub = board.check_pubmsg(who, change, 0, LIMITS)
        assert pub.kind == "transient" and pub.msg["save"] is False
        pub = board.check_pubmsg(who, clear, 0, LIMITS)
        assert pub.kind == "clear" and pub.parent == "Page_12_3" and not pub.msg["save"]
        assert board.check_delmsg(who, {"name": "ShowPage",
                                        "id": "DocumentFilePage_ShowPage"}, 0).board
    for who in (STUDENT, DRAWER, VIEWER, INSPECTOR):
        for msg in (show, count, change, clear):
            assert code_of(board.check_pubmsg, who, msg, 0, LIMITS) == 4108, (who, msg)
        assert code_of(board.check_delmsg, who, {"name": "ShowPage",
                                                 "id": "DocumentFilePage_ShowPage"}, 0) == 4108


@pytest.mark.parametrize("bad", [
    {"id": "k3f9a2###_SharpsChange_012_3"},                 # a page key is canonical
    {"id": "k3f9a2###_SharpsChange_12_0"},                  # pages count from 1
    {"id": "k3 f9###_SharpsChange_12_3"},
    {"id": "x" * 65 + "###_SharpsChange_12_3"},
    {"id": "clear###_SharpsChange_12_3"},                   # clear/laser are not shape ids
    {"data": {"eventType": "shapeSaveEvent", "shapeId": "other", "className": "Pen",
              "data": {"points": [0.1, 0.1], "color": "#000000", "width": 0.01}}},
    {"data": {"eventType": "shapeSaveEvent", "className": "Blob", "data": {}}},
    {"data": {"eventType": "shapeSaveEvent", "className": "Pen",
              "data": {"points": [0.1], "color": "#000000", "width": 0.01}}},
    {"data": {"eventType": "shapeSaveEvent", "className": "Pen",
              "data": {"points": [0.1, "x"], "color": "#000000", "width": 0.01}}},
    {"data": {"eventType": "shapeSaveEvent", "className": "Pen",
              "data": {"points": [0.1, float("nan")], "color": "#000000", "width": 0.01}}},
    {"data": {"eventType": "shapeSaveEvent", "className": "Line",
              "data": {"x1": 0, "y1": 0, "x2": 1, "color": "red", "width": 0.01}}},
    {"data": {"eventType": "shapeSaveEvent", "className": "Text",
              "data": {"x": 0, "y": 0, "text": 5, "color": "#000000", "size": 0.1}}},
    {"data": {"eventType": "spin"}},
    {"data": {"eventType": "shapeSaveEvent", "className": "Pen",
              "data": {"points": [0.1, 0.1], "color": "#000000", "width": 0.01,
                       "note": float("inf")}}},
    {"data": "a shape"},
])
def test_malformed_board_messages_get_103(bad):
    msg = {**pen(), **bad}
    assert code_of(board.check_pubmsg, TEACHER, msg, 0, LIMITS) == 103


def test_every_class_of_shape():
    shapes = {
        "Highlighter": {"points": [0, 0, 1, 1], "color": "#ffff00", "width": 0.02},
        "Line": {"x1": 0.1, "y1": 0.1, "x2": 0.9, "y2": 0.9, "color": "#000000", "width": 0.01},
        "Arrow": {"x1": 0.1, "y1": 0.1, "x2": 0.9, "y2": 0.9, "color": "#000000", "width": 0.01},
        "Rectangle": {"x1": 0, "y1": 0, "x2": 0.5, "y2": 0.5, "color": "#00FF00", "width": 0.01},
        "Ellipse": {"x1": 0, "y1": 0, "x2": 0.5, "y2": 0.5, "color": "#00ff00", "width": 0.01},
        "Text": {"x": 0.3, "y": 0.4, "text": "x²", "color": "#000000", "size": 0.03},
    }
    for cls, data in shapes.items():
        msg = pen(**{"className": cls, "data": data})
        assert board.check_pubmsg(DRAWER, msg, 0, LIMITS).msg["data"]["data"] == data


def test_size_limit_is_103_and_plain_messages_keep_off_the_board():
    big = pen(data={"points": [0.5] * 600, "color": "#000000", "width": 0.01})
    assert len(json.dumps(big["data"])) > LIMITS.max_shape_bytes
    assert code_of(board.check_pubmsg, TEACHER, big, 0, LIMITS) == 103
    assert board.check_pubmsg(TEACHER, big, 0, board.BoardLimits(max_shape_bytes=0)).board
    for plain in ({"name": "x", "id": "Page_0_1", "save": True},
                  {"name": "x", "id": "n", "associatedMsgID": "Page_0_1", "save": True},
                  {"name": "x", "id": "a###_SharpsChange_0_1"},
                  {"name": "x", "id": "WBPageCount"}):
        assert code_of(board.check_pubmsg, TEACHER, plain, 0, LIMITS) == 103
    pub = board.check_pubmsg(TEACHER, {"name": "Note", "id": "n", "save": True}, 0, LIMITS)
    assert pub.kind == "plain" and not pub.board
    # a student's plain messages keep the usual rules (not to everyone)
    assert code_of(board.check_pubmsg, DRAWER, {"name": "Note", "toID": "__all"}, 0, LIMITS) \
        == 4108


def test_a_drawing_student_may_not_reach_a_role_set_or_a_list():
    for toid in ({"roles": [2]}, ["t", "s"], "__allExceptAuditor"):
        assert code_of(board.check_pubmsg, DRAWER, {**pen(), "toID": toid}, 0, LIMITS) == 4108
    assert board.check_pubmsg(DRAWER, {**pen(), "toID": ["t"]}, 0, LIMITS).target.ids == ("t",)


def test_rate_limiter_refuses_beyond_the_burst_then_refills():
    rl = board.RateLimiter(10)            # bursts of 20
    assert [rl.allow("u", 0) for _ in range(21)] == [True] * 20 + [False]
    assert rl.allow("other", 0)           # users are counted apart
    assert not rl.allow("u", 50)          # half a token back
    assert rl.allow("u", 100)             # one token a tenth of a second
    assert not rl.allow("u", 100)
    # at the sustained rate it never refuses
    now = 100
    for _ in range(100):
        now += 100
        assert rl.allow("u", now)
    # idle users are forgotten: the limiter holds only who drew in the last two seconds
    assert len(rl) == 1                   # "other" drew ten seconds ago
    assert rl.allow("late", now + 1000) and len(rl) == 2
    assert rl.allow("later", now + 5000) and len(rl) == 1
    assert board.RateLimiter(0).allow("u", 0)


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.integers(0, 300), min_size=1, max_size=200))
def test_rate_limiter_never_lets_more_than_rate_plus_burst(gaps):
    rl = board.RateLimiter(10)
    now, sent = 0, 0
    for g in gaps:
        now += g
        sent += rl.allow("u", now)
    assert sent <= 20 + now * 10 / 1000


def shapes_in_room(n: int, pages: int = 2) -> t.RoomData:
    room = t.RoomData()
    t.save_message(room, {"name": "ClassBegin", "id": "ClassBegin", "fromID": "t"})
    for i in range(n):
        pub = board.check_pubmsg(TEACHER if i % 3 else DRAWER, pen(f"s{i}", f"{i % pages}_1"),
                                 i, LIMITS)
        t.save_message(room, pub.msg)
    t.save_message(room, {"name": "Note", "id": "Note", "fromID": "t", "data": {}})
    return room


def test_compaction_round_trip():
    room = shapes_in_room(7)
    snap = t.snapshot(room, False)
    rest, compact = board.compact(snap.messages)
    assert [m["id"] for m in rest] == ["ClassBegin", "Note"]
    assert list(compact) == ["0_1", "1_1"]
    assert [e[0] for e in compact["0_1"]] == ["s0", "s2", "s4", "s6"]
    assert compact["1_1"][0] == ["s1", "t", 3, "Pen", pen()["data"]["data"]]
    rebuilt = board.expand(compact)
    shapes = [m for m in snap.messages if m["name"] == "SharpsChange"]
    assert rebuilt == [{k: v for k, v in m.items() if k != "ts"} for m in shapes]
    # the join answer carries it
    answer = decisions.join_answer(TEACHER, {}, snap, False, "sid", "tok")
    assert answer["board"] == compact and answer["msglist"] == rest
    # what does not rebuild exactly stays a msglist entry
    odd = {**shapes[0], "extra": 1}
    assert board.compact([odd]) == ([odd], {})


def test_compaction_is_smaller():
    snap = t.snapshot(shapes_in_room(500), False)
    rest, compact = board.compact(snap.messages)
    whole = len(json.dumps(snap.messages))
    small = len(json.dumps(rest)) + len(json.dumps(compact))
    assert small < whole * 0.6, (small, whole)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=4)
                     | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)
_ids = st.sampled_from(["a###_SharpsChange_0_1", "clear###_SharpsChange_3_2",
                        "laser###_SharpsChange_0_1", "a###_SharpsDrawing_0_1",
                        "DocumentFilePage_ShowPage", "WBPageCount", "DocumentChange", "Page_0_1",
                        "x"]) | st.text(max_size=12)
_board_data = st.fixed_dictionaries(
    {"name": st.sampled_from(sorted(board.BOARD_NAMES) + ["note"]), "id": _ids},
    optional={"toID": st.sampled_from(["__all", "__allExceptSender", "t", "__none"]) | _json,
              "save": _json, "associatedMsgID": _json,
              "data": st.fixed_dictionaries({}, optional={
                  "eventType": st.sampled_from([board.SAVE_EVENT, board.DRAWING_EVENT,
                                                board.CLEAR_EVENT, board.LASER_EVENT]) | _json,
                  "shapeId": _json, "className": st.sampled_from(sorted(board.CLASSES)) | _json,
                  "data": _json, "fileid": _json, "currpage": _json, "pagenum": _json,
                  "totalPage": _json, "action": _json}) | _json})


@settings(max_examples=400, deadline=None)
@given(who=st.sampled_from([TEACHER, ASSISTANT, STUDENT, DRAWER, VIEWER, INSPECTOR]),
       data=_board_data | _json)
def test_any_request_is_a_board_message_or_a_readable_refusal(who, data):
    """Whatever a client sends: a code with a message, or a checked message; who may not
    draw never gets a board message through; nothing else is raised."""
    try:
        pub = board.check_pubmsg(who, data, 0, LIMITS)
    except CodeError as exc:
        assert exc.code in (103, 4108) and exc.message
    else:
        if pub.board:
            json.dumps(pub.msg["data"], allow_nan=False)     # plain JSON: no NaN, Infinity
            assert board.may_draw(who)
            assert pub.kind != "shape" or pub.msg["associatedMsgID"] == pub.parent
            assert pub.kind not in ("clear", "page") or who.role in (0, 1)
    try:
        delete = board.check_delmsg(who, data, 0)
    except CodeError as exc:
        assert exc.code in (103, 4108) and exc.message
    else:
        assert not delete.board or board.may_draw(who)


@pytest.mark.parametrize("name", [[], {}, ["SharpsChange"], 3, None])
def test_a_name_that_is_no_string_gets_103_not_a_server_error(name):
    # found by the signalling fuzz test: an unhashable name once raised TypeError (2510)
    for check in (board.check_pubmsg, board.check_delmsg):
        args = (TEACHER, {"name": name, "id": None, "toID": None}, 0)
        assert code_of(check, *args, *((LIMITS,) if check is board.check_pubmsg else ())) == 103
