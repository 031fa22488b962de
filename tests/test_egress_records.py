"""A recording's outputs as an integrator sees them: getrecordlist while processing and when
ready, the download of each file under the record's token, the ``recordready`` webhook."""

from __future__ import annotations

import httpx
from bench.egress.lesson import Lesson, Publisher, make

from conftest import need_binary
from tkroom.egress.jobs import read_job
from tkroom.egress.plane import EgressPlane, EgressSettings
from tkroom.state.memory import MemoryState
from webapi_nodes import Api, Receiver, wait_for


def test_outputs_are_listed_downloadable_and_announced(api: Api, node):
    need_binary("ffmpeg")
    serial = api.room()
    hook = Receiver(failures=0)
    assert api("companyattribute", roomendcallbackurl=hook.url)["result"] == 0
    records = node.node.settings.data_dir / "media" / "records"  # where the node records
    # what a node that stopped mid-class leaves: an event log without a job (queued at start),
    # here with the rows it had registered just before it died
    node.run(node.node.directory.add_record(
        serial=serial, path=str(records / serial / "rec42" / "composite.mp4"),
        starttime=1_700_000_000, kind="mixed", recordid="rec42-8", state=0, recording="rec42",
        files=[]))
    folder = make(records / serial / "rec42",
                  Lesson(4000, [Publisher("t", 0), Publisher("s1", 2, hz=550)], pages=2,
                         page_turns=[(2000, 2)]))
    plane = EgressPlane(EgressSettings(records, width=640, height=360, preset="ultrafast",
                                       retry_s=0.2), node.node.directory, MemoryState(),
                        node.node.storage)
    node.run(plane.start())
    try:
        first = api("getrecordlist", serial=serial)
        assert first["result"] == 0
        by_type = {r["recordtype"]: r for r in first["recordlist"]}
        assert set(by_type) >= {0, 8}
        if by_type[8]["state"] == 0:  # still processing: no media paths yet
            assert by_type[8]["playpath_mp4"] == "" and by_type[8]["playpath_m4a"] == ""
            assert 0 <= by_type[8]["progress"] <= 1

        def ready() -> list | None:
            rows = api("getrecordlist", serial=serial)["recordlist"]
            return rows if all(r["state"] == 1 for r in rows) and len(rows) == 4 else None

        rows = wait_for(ready, 300, what="outputs ready")
        wait_for(lambda: read_job(folder).registered, 60, what="the outcome registered")
        gauges = {m.name: m.samples[0].value for m in plane.metrics()}
        assert gauges == {"tkroom_egress_jobs_queued": 0, "tkroom_egress_jobs_running": 0,
                          "tkroom_egress_progress": 1.0}
    finally:
        node.run(plane.stop())
    by = {(r["recordtype"], r["userid"]): r for r in rows}
    assert set(by) == {(0, ""), (8, ""), (1, "t"), (1, "s1")}
    merged, events = by[(8, "")], by[(0, "")]
    assert abs(merged["duration_ms"] - 4000) <= 1000 and merged["size"] > 0
    assert merged["playpath"] == merged["playpath_mp4"].replace("https", "http")
    assert merged["playpath_mp4"].endswith("/composite.mp4")
    assert all(r["starttime"] == 1_700_000_000 for r in rows)
    assert all("progress" not in r for r in rows)
    mp4 = httpx.get(merged["playpath_mp4"])
    assert mp4.status_code == 200 and mp4.content[4:8] == b"ftyp"
    assert mp4.headers["content-type"] == "video/mp4"
    m4a = httpx.get(merged["playpath_m4a"])
    assert m4a.status_code == 200 and m4a.headers["content-type"] == "audio/mp4"
    ranged = httpx.get(merged["playpath_mp4"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100  # a player can seek
    assert events["playpath"] == f"{events['webhost']}/playback/{events['recordid']}/" \
        + events["recordpath"].rsplit("/", 1)[1]
    base = events["webhost"] + events["recordpath"]
    log = httpx.get(f"{base}/events.jsonl")
    assert log.status_code == 200 and log.text.splitlines()[0].startswith('{"v":1,"kind":"start"')
    assert httpx.get(f"{base}/page-7_2.jpg").content[:2] == b"\xff\xd8"
    assert httpx.get(f"{base}/composite.mp4").status_code == 200
    # nothing else of the folder, nor anything under another record's token
    for name in ("job.json", "rec-t_video_default-0-video.webm", "..%2Fjob.json", ".stills"):
        assert httpx.get(f"{base}/{name}").status_code == 404, name
    user = by[(1, "s1")]
    assert user["playpath_mp4"].endswith("/user-s1.mp4")
    other = user["webhost"] + user["recordpath"]
    assert httpx.get(f"{other}/composite.mp4").status_code == 404
    assert httpx.get(f"{other}/user-s1.mp4").status_code == 200
    wrong = base.rsplit("/", 1)[0] + "/" + "0" * 32
    assert httpx.get(f"{wrong}/events.jsonl").status_code == 404
    # one recordready per output, to the enterprise's callback URL
    wait_for(lambda: len(hook.bodies) >= 4, 30, what="recordready webhooks")
    hook.close()
    got = {(b["recordtype"], b.get("userid", "")) for b in hook.bodies if b["event"] == "recordready"}
    assert got == {("0", ""), ("8", ""), ("1", "t"), ("1", "s1")}
    assert all(b["serial"] == serial for b in hook.bodies)
    assert api("getrecordlist", serial=serial, recordtype=1)["recordlist"][0]["recordtype"] == 1
    assert api("getrecordlist", serial=serial, recordtype=5)["result"] == 4004


def test_a_failed_recording_keeps_its_event_playback(api: Api, node):
    need_binary("ffmpeg")
    serial = api.room()
    records = node.node.settings.data_dir / "media" / "records"
    folder = make(records / serial / "broken", Lesson(3000, [Publisher("t", 0)], pages=1))
    (folder / "rec-t_video_default-0-video.webm").write_bytes(b"garbage" * 100)
    plane = EgressPlane(EgressSettings(records, width=640, height=360, preset="ultrafast"),
                        node.node.directory, MemoryState(), node.node.storage)
    node.run(plane.start())
    try:
        def settled() -> list | None:
            rows = api("getrecordlist", serial=serial)["recordlist"]
            return rows if all(r["state"] != 0 for r in rows) else None

        rows = wait_for(settled, 300, what="the job's end")
        wait_for(lambda: read_job(folder).registered, 60, what="the outcome registered")
        gauges = {m.name: m.samples[0].value for m in plane.metrics()}
        assert gauges == {"tkroom_egress_jobs_queued": 0, "tkroom_egress_jobs_running": 0,
                          "tkroom_egress_progress": 1.0}
    finally:
        node.run(plane.stop())
    by = {r["recordtype"]: r for r in rows}
    assert by[8]["state"] == 2 and "rec-t_video_default-0-video.webm" in by[8]["reason"]
    assert by[8]["playpath_mp4"] == ""
    assert by[0]["state"] == 1 and by[0]["playpath_m4a"] == ""  # board and chat still play
    base = by[0]["webhost"] + by[0]["recordpath"]
    assert httpx.get(f"{base}/events.jsonl").status_code == 200
