"""The event-log writer (tkroom.egress.eventlog) on the in-memory room state: what a student
would have received, in order, and nothing else."""

from __future__ import annotations

import json
import time

from tkroom.egress.eventlog import EventLog, TrackLog, read_log
from tkroom.rooms.model import ALL, Event, Target
from tkroom.rooms.scene import parse_log, scene_at
from tkroom.state.memory import MemoryState


def pen(sid: str) -> dict:
    return {"name": "SharpsChange", "id": f"{sid}###_SharpsChange_0_1", "save": True,
            "toID": "__all", "data": {"eventType": "shapeSaveEvent", "shapeId": sid,
                                      "className": "Pen",
                                      "data": {"points": [0, 0, 1, 1], "color": "#000000",
                                               "width": 0.01}}}


async def test_the_log_holds_what_students_received_in_order(tmp_path):
    state = MemoryState()
    serial = "4242"
    await state.subscribe(serial, lambda e: None)  # the room is served
    await state.save_message(serial, pen("early"))  # drawn before the recording began
    log = EventLog(state, serial, tmp_path / "rec", time.time(), {"roomlayout": 3})
    await log.start()
    await state.publish(serial, Event("pubMsg", pen("a"), ALL))
    await state.publish(serial, Event("pubMsg", {"name": "SharpsChange", "toID":
                                                 "__allExceptSender",
                                                 "id": "a###_SharpsDrawing_0_1", "data": {}},
                                      Target("except_sender", sender="t")))
    await state.publish(serial, Event("sendMessage", {"fromID": "t", "toID": "__all",
                                                      "message": "hello"}, ALL))
    await state.publish(serial, Event("sendMessage", {"fromID": "t", "toID": "s1",
                                                      "message": "private"},
                                      Target("user", ids=("s1",))))
    await state.publish(serial, Event("notice", {"x": 1}, Target("super")))
    await state.publish(serial, Event("_departed", {"id": "s2"}, ALL))
    log.track("t", "t:video:default", "video", str(tmp_path / "rec" / "r-t-0"), True)
    await state.publish(serial, Event("delMsg", {"id": "a###_SharpsChange_0_1"}, ALL))
    await log.close()
    await state.publish(serial, Event("pubMsg", pen("after"), ALL))  # not followed any more

    lines = (tmp_path / "rec" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    recs = [json.loads(x) for x in lines]
    assert recs[0]["kind"] == "start" and recs[0]["room"] == {"roomlayout": 3}
    assert recs[-1]["kind"] == "end"
    body = [(r["kind"], r.get("name"), r.get("data", {}).get("message")) for r in recs[1:-1]]
    assert body == [("event", "pubMsg", None), ("event", "sendMessage", "hello"),
                    ("track", None, None), ("event", "delMsg", None)]
    assert recs[3]["file"] == "r-t-0" and recs[3]["on"] is True
    ts = [r["t"] for r in recs]
    assert ts == sorted(ts)
    # what the reader makes of it: the shape drawn before recording came with the start line
    # (a saved message), the one drawn and erased during it is gone, no drawing segment
    s = scene_at(parse_log(lines), 10**9)
    assert [x.id for x in s.shapes] == ["early"]
    assert [m["id"] for m in recs[0]["saved"]] == ["early###_SharpsChange_0_1"]
    assert "SharpsDrawing" not in "".join(lines) and "private" not in "".join(lines)


def test_a_node_with_media_makes_its_recordings_through_egress(tmp_path):
    """What ``tkroom serve`` builds: the egress plane listens to the media plane's recorder,
    which leaves its own post-processing to it."""
    from tkroom.config import Settings
    from tkroom.egress.plane import EgressPlane
    from tkroom.planes import build_node

    node = build_node(Settings(host="127.0.0.1", port=0, signal_port=0, data_dir=tmp_path,
                               egress_width=640, egress_height=360),
                      state=MemoryState(), web=False, courseware=False)
    assert isinstance(node.egress, EgressPlane) and node.egress in node.services
    recorder = node.media.service.recorder
    assert recorder.listeners == [node.egress] and recorder.legacy is False
    assert node.egress.settings.record_dir == recorder.record_dir
    assert (node.egress.settings.width, node.egress.settings.height) == (640, 360)


async def test_a_takeover_appends_a_segment_after_a_torn_line(tmp_path):
    """The holder died mid-line; the node taking over appends a ``segment`` line after it,
    another node's tracks are in its own file: the reader gets one log on one timeline."""
    state = MemoryState()
    serial = "4242"
    await state.subscribe(serial, lambda e: None)
    folder = tmp_path / "rec"
    started = time.time() - 5
    first = EventLog(state, serial, folder, started, {}, node="A")
    await first.start()
    first.track("t", "t:video:default", "video", str(folder / "r-A-t-0"), True)
    await first.close()
    whole = (folder / "events.jsonl").read_text(encoding="utf-8").rstrip("\n")
    (folder / "events.jsonl").write_text(whole[:whole.rindex("\n") + 1] + '{"t":4,"kind":"ev',
                                         encoding="utf-8")  # no end line, a torn one
    other = TrackLog(folder, started, "C")
    await other.start()
    other.track("s", "s:video:default", "video", str(folder / "r-C-s-0"), True)
    await other.close()
    await state.save_message(serial, pen("late"))
    second = EventLog(state, serial, folder, started, {}, node="B", segment=(2, "A"))
    await second.start()
    await state.publish(serial, Event("pubMsg", pen("b"), ALL))
    await second.close()
    recs = read_log(folder)
    kinds = [r["kind"] for r in recs]
    main = [k for k in kinds if k != "track"]
    assert main == ["start", "segment", "event", "end"] and kinds.count("track") == 2
    assert [r["t"] for r in recs] == sorted(r["t"] for r in recs)
    seg = recs[kinds.index("segment")]
    assert seg["segment"] == 2 and seg["node"] == "B" and seg["previous"] == "A"
    assert [m["id"] for m in seg["saved"]] == ["late###_SharpsChange_0_1"]
    assert seg["t"] >= 5000  # on the recording's clock, not the new holder's
    assert {r.get("node") for r in recs if r["kind"] == "track"} == {"A", "C"}
    assert [x.id for x in scene_at(recs, 10**9).shapes] == ["late", "b"]
