"""The class at a moment, from its event log (tkroom.rooms.scene): no sockets, no files."""

from __future__ import annotations

import json

import pytest

from tkroom.rooms.scene import (
    BLANK_PAGE,
    Rect,
    dumps,
    end_line,
    event_line,
    fit,
    layout_name,
    log_end,
    logged,
    merge_logs,
    parse_log,
    place,
    scene_at,
    scenes,
    segment_line,
    start_line,
    track_line,
)


def show(fileid: int, page: int) -> dict:
    return {"name": "ShowPage", "id": "DocumentFilePage_ShowPage", "toID": "__all", "save": True,
            "data": {"fileid": fileid, "currpage": page, "pagenum": 9}}


def pen(sid: str, page: str, x: float = 0.5) -> dict:
    return {"name": "SharpsChange", "id": f"{sid}###_SharpsChange_{page}", "save": True,
            "fromID": "t", "data": {"eventType": "shapeSaveEvent", "shapeId": sid,
                                    "className": "Pen",
                                    "data": {"points": [0, 0, x, x], "color": "#ff0000",
                                             "width": 0.01}}}


MEMBERS = [{"id": "t", "properties": {"role": 0, "nickname": "Teacher", "publishstate": 3}},
           {"id": "s1", "properties": {"role": 2, "nickname": "Ann", "publishstate": 0}},
           {"id": "s2", "properties": {"role": 2, "nickname": "Bob", "publishstate": 3}}]


def lesson() -> list[dict]:
    return [
        start_line(1_000, "123", {"roomlayout": 0}, MEMBERS, [show(12, 1), pen("a", "12_1")]),
        track_line(100, "t", "t:video:default", "video", "r-t-0", True),
        track_line(100, "s1", "s1:video:default", "video", "r-s1-1", True),
        event_line(1000, "pubMsg", pen("b", "12_1", 0.7)),
        event_line(2000, "pubMsg", show(12, 2)),
        event_line(2500, "pubMsg", pen("c", "12_2")),
        event_line(3000, "setProperty", {"id": "s1", "properties": {"publishstate": 3}}),
        event_line(3500, "sendMessage", {"fromID": "s2", "nickname": "Bob", "toID": "__all",
                                         "message": "hello"}),
        event_line(3600, "sendMessage", {"fromID": "s2", "toID": "t", "message": "private"}),
        event_line(4000, "delMsg", {"id": "c###_SharpsChange_12_2"}),
        event_line(4500, "pubMsg", show(12, 1)),
        event_line(5000, "pubMsg", {"name": "SharpsChange", "id": "clear###_SharpsChange_12_1",
                                    "data": {"eventType": "clearEvent"}}),
        track_line(5500, "t", "t:screen:default", "screen", "r-t-2", True),
        track_line(6000, "t", "t:screen:default", "screen", "r-t-2", False),
        track_line(6500, "s1", "s1:video:default", "video", "r-s1-1", False),
        end_line(7000),
    ]


def test_the_page_its_shapes_and_the_cameras_follow_the_log():
    log = lesson()
    s = scene_at(log, 500)
    assert s.page == "12_1" and [x.id for x in s.shapes] == ["a"]
    # a student off stage is not on camera even while publishing; the teacher always is
    assert [c.userid for c in s.cameras] == ["t"] and s.cameras[0].nickname == "Teacher"
    assert [x.id for x in scene_at(log, 1000).shapes] == ["a", "b"]
    s = scene_at(log, 2600)
    assert s.page == "12_2" and [x.id for x in s.shapes] == ["c"]
    assert [c.userid for c in scene_at(log, 3000).cameras] == ["t", "s1"]
    assert [(c.fromid, c.text) for c in scene_at(log, 3700).chat] == [("s2", "hello")]
    assert scene_at(log, 4000).shapes == ()
    assert [x.id for x in scene_at(log, 4600).shapes] == ["a", "b"]  # back on page 1
    assert scene_at(log, 5000).shapes == ()                           # cleared
    assert scene_at(log, 5600).screen is not None
    assert scene_at(log, 6100).screen is None
    assert [c.userid for c in scene_at(log, 6600).cameras] == ["t"]
    assert log_end(log) == 7000


def test_board_key_changes_only_with_the_board_layer():
    keys = [s.board_key() for s in scenes(lesson())]
    by_t = {s.t: s.board_key() for s in scenes(lesson())}
    assert by_t[3500] != by_t[3000]  # layout 0 shows the chat: a line changes the still
    assert by_t[3600] == by_t[3500]  # a private line does not
    assert by_t[1000] != by_t[100]   # a shape does
    log = lesson()
    log[0] = start_line(1_000, "123", {"roomlayout": 3}, MEMBERS, [])
    by_t = {s.t: s.board_key() for s in scenes(log)}
    assert by_t[3500] == by_t[3000]  # layout 3 shows no chat
    assert len(set(keys)) < len(keys)


def test_a_changed_shape_is_drawn_last_and_unknown_records_are_skipped():
    log = [start_line(0, "1", {}, [], [pen("a", "0_1"), pen("b", "0_1")]),
           {"t": 10, "kind": "mystery", "x": 1},
           event_line(20, "someFutureEvent", {"x": 1}),
           event_line(30, "pubMsg", pen("a", "0_1", 0.9))]
    s = scene_at(log, 100)
    assert s.page == BLANK_PAGE
    assert [x.id for x in s.shapes] == ["b", "a"] and s.shapes[1].data["points"][2] == 0.9


def test_a_torn_last_line_is_skipped():
    lines = [dumps(r) for r in lesson()[:4]]
    lines[-1] = lines[-1][:20]
    recs = parse_log([*lines, "", "[1,2]", "not json"])
    assert len(recs) == 3 and log_end(recs) == 100  # no end line: the last line's time


def test_a_takeover_segment_resets_the_room_and_ends_the_dead_holders_tracks():
    """Node A held the recording and died; node B took it over: the class is as B's segment
    line says, A's tracks ended there, and B's tracks (from its own file) play on."""
    main = [start_line(1_000, "123", {"roomlayout": 0}, MEMBERS, [show(12, 1)]),
            track_line(100, "t", "t:video:default", "video", "r-A-t-0", True, "A"),
            track_line(100, "s2", "s2:video:default", "video", "r-A-s2-1", True, "A"),
            event_line(1000, "pubMsg", pen("b", "12_1")),
            '{"t":1100,"kind":"event","name":"pubM',  # A died mid-write
            segment_line(6000, 2, "B", "A", MEMBERS[:2], [show(12, 3), pen("z", "12_3")]),
            end_line(9000)]
    b_tracks = [track_line(50, "s1", "s1:video:default", "video", "r-B-s1-0", True, "B"),
                track_line(4000, "t", "t:video:default", "video", "r-B-t-1", True, "B")]
    log = merge_logs(parse_log(x if isinstance(x, str) else dumps(x) for x in main), [b_tracks])
    assert [r["t"] for r in log] == sorted(r["t"] for r in log)
    assert [(c.userid, c.file) for c in scene_at(log, 3000).cameras] == \
        [("t", "r-A-t-0"), ("s2", "r-A-s2-1")]  # s1 publishes off stage
    # the teacher republished through B before B took over: B's file replaces A's
    assert [c.file for c in scene_at(log, 4500).cameras] == ["r-B-t-1", "r-A-s2-1"]
    s = scene_at(log, 6000)
    assert s.page == "12_3" and [x.id for x in s.shapes] == ["z"]
    assert [c.file for c in s.cameras] == ["r-B-t-1"]  # A's s2 track ended with A
    assert log_end(log) == 9000


def test_merged_track_lines_come_after_the_log_lines_of_the_same_time():
    main = [start_line(0, "1", {}, [], []), event_line(10, "pubMsg", show(1, 1)), end_line(30)]
    other = [track_line(10, "t", "t:video:default", "video", "f", True, "B"),
             event_line(20, "pubMsg", show(1, 2))]  # only track lines are taken from it
    out = merge_logs(main, [other])
    assert [r["kind"] for r in out] == ["start", "event", "track", "end"]
    assert merge_logs(main, []) is main


def test_drawing_segments_and_laser_marks_are_not_logged():
    assert not logged("pubMsg", {"id": "k###_SharpsDrawing_0_1"})
    assert not logged("pubMsg", {"id": "laser###_SharpsChange_0_1"})
    assert not logged("_departed", {"id": "x"})
    assert logged("pubMsg", pen("a", "0_1")) and logged("participantJoined", {"id": "x"})


@pytest.mark.parametrize("layout", [0, 1, 2, 3, 42])
def test_every_layout_keeps_regions_inside_the_frame_and_apart(layout):
    log = [start_line(0, "1", {"roomlayout": layout}, MEMBERS, [])] + [
        track_line(1, u, f"{u}:video:default", "video", f"f-{u}", True) for u in ("t", "s2")]
    s = scene_at(log, 10)
    p = place(s, 1280, 720)
    rects = ([p.board] if p.board else []) + list(p.cameras)
    assert rects
    for r in rects:
        assert r.x >= 0 and r.y >= 0 and r.x + r.w <= 1280 and r.y + r.h <= 720
        assert r.w % 2 == 0 and r.h % 2 == 0
    if layout != 3:  # board-only puts the teacher's camera over the board
        for i, a in enumerate(rects):
            for b in rects[i + 1:]:
                assert a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or \
                    b.y + b.h <= a.y, (a, b)
    assert layout_name(layout) == {0: "board-right", 1: "board-top", 2: "cameras",
                                   3: "board-only"}.get(layout, "board-right")
    assert len(p.cameras) == (1 if layout == 3 else 2)
    if p.chat is not None:  # only layout 0 (and its fall-backs), below the cameras
        assert layout_name(layout) == "board-right" and p.chat.y >= p.cameras[-1].y + 180
        assert p.chat.y + p.chat.h <= 720 and p.chat.x >= p.board.x + p.board.w


def test_fit_keeps_the_aspect_and_centres():
    r = fit(1600, 1200, Rect(0, 0, 960, 720))
    assert (r.w, r.h) == (960, 720)
    r = fit(16, 9, Rect(0, 0, 960, 720))
    assert r.w == 960 and r.h == 540 and r.y == 90


def test_log_lines_are_compact_json():
    line = dumps(event_line(5, "sendMessage", {"message": "你好"}))
    assert "\n" not in line and json.loads(line)["data"]["message"] == "你好" and "你好" in line
