"""Which courseware files an event log's lesson showed (tkroom.rooms.playback): the only files
the playback page's link may reveal."""

from __future__ import annotations

import json

from tkroom.rooms.playback import MAX_FILES, shown_files


def show(fileid, page=1):
    return {"name": "ShowPage", "id": "DocumentFilePage_ShowPage", "data": {"fileid": fileid, "currpage": page}}


def line(obj) -> str:
    return json.dumps(obj) + "\n"


def test_the_saved_page_and_each_page_turn():
    log = [
        line({"v": 1, "kind": "start", "t": 0, "saved": [show(7), {"id": "ClassBegin", "data": {}}]}),
        line({"t": 5, "kind": "event", "name": "pubMsg", "data": show(9, 3)}),
        line({"t": 6, "kind": "event", "name": "pubMsg", "data": show(0, 2)}),  # the blank board
        line({"t": 7, "kind": "event", "name": "pubMsg", "data": show(7, 2)}),
    ]
    assert shown_files(log) == {7, 9}


def test_anything_else_names_no_file():
    log = [
        "not json DocumentFilePage_ShowPage\n",
        '{"t": 1, "kind": "event", "name": "pubMsg", "data": {"id": "DocumentFilePage_ShowPage", "data": {"fileid": "12"}}}\n',
        line({"t": 2, "kind": "event", "name": "pubMsg", "data": {"id": "DocumentFilePage_ShowPage", "data": {"fileid": True}}}),
        line({"t": 3, "kind": "event", "name": "pubMsg", "data": {"id": "DocumentFilePage_ShowPage", "data": {"fileid": -4}}}),
        line({"t": 4, "kind": "event", "name": "pubMsg", "data": {"id": "Other", "data": {"fileid": 5}, "x": "DocumentFilePage_ShowPage"}}),
        line({"t": 5, "kind": "event", "name": "sendMessage", "data": {"message": json.dumps(show(6))}}),
        line({"kind": "start", "saved": "DocumentFilePage_ShowPage"}),
        line(["DocumentFilePage_ShowPage"]),
        '{"t": 6, "kind": "event", "name": "pubMsg", "data": {"id": "DocumentFilePage_ShowPage", "data": {"fileid": 8',
    ]
    assert shown_files(log) == set()


def test_bounded():
    log = (line({"t": i, "kind": "event", "name": "pubMsg", "data": show(i + 1)}) for i in range(MAX_FILES * 3))
    assert len(shown_files(log)) == MAX_FILES
