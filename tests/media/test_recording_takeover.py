"""One recording per class in a cluster, with takeover: two ``tkroom serve`` processes on one
store and one data folder (the recordings' folder is shared, as Janus's ``rec_dir`` must be),
one private Redis and one real Janus, in the test's network namespace. The teacher records a
class through node A (which holds the recording's lease); a student on node B publishes too, so
B records its own publications into the same recording. Node A is killed (``SIGKILL``): the
teacher's SDK resumes on node B and publishes again, B takes the lease over (a ``segment`` line
in the event log), and the class ends. There is exactly one recording (one merged MP4, one
event playback, one folder), the merged MP4 covers the class, and the media gap is no more than
the takeover time plus the time the teacher took to publish again."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_helpers import Watched
from client_node import PASSWORDS
from media.nodes import Serve
from tkroom.client import Room
from tkroom.client.media import MediaClient, attach
from tkroom.egress.compose import media_files, probe
from tkroom.egress.eventlog import EVENTS, read_log
from tkroom.errors import CodeError
from tkroom.media.janus_process import JanusSettings
from tkroom.media.netns import NetNamespace
from tkroom.media.recording import tools_available
from webapi_nodes import free_port, tkroom

pytestmark = [pytest.mark.media,
              pytest.mark.skipif(not tools_available(), reason="janus-pp-rec / ffmpeg missing")]

FAST = {"TKROOM_EGRESS_WIDTH": "640", "TKROOM_EGRESS_HEIGHT": "360",
        "TKROOM_EGRESS_PRESET": "ultrafast", "TKROOM_EGRESS_PER_USER": "0",
        "TKROOM_EGRESS_KEEP_SOURCES": "1", "TKROOM_LIVE": "0"}


class Cluster:
    def __init__(self, a: Serve, b: Serve, key: str, serial: str, data: Path) -> None:
        self.a, self.b, self.key, self.serial, self.data = a, b, key, serial, data

    def folders(self) -> list[Path]:
        """The recordings' folders of the class."""
        return sorted(p for p in self.data.glob(f"media/records/{self.serial}/*") if p.is_dir())

    async def records(self, node: Serve) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=30) as http:
            out = (await http.post(f"{node.url}/WebAPI/getrecordlist",
                                   data={"key": self.key, "serial": self.serial})).json()
        return list(out.get("recordlist") or [])


@pytest.fixture
def two_nodes(netns: NetNamespace, janus: JanusSettings, redis_url: str,
              tmp_path: Path) -> Iterator[Cluster]:
    data = tmp_path / "data"
    made = tkroom("admin", "enterprise", "create", "Takeover School", "--data", str(data))
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["authkey"]
    with netns.entered():
        ports = [(free_port(), free_port()) for _ in range(2)]
    urls = [f"ws://127.0.0.1:{sp}/signal" for _, sp in ports]
    args = ["--data", str(data), "--redis", redis_url, "--janus", janus.url]
    a = Serve(netns, args, *ports[0], urls, env=FAST, log=tmp_path / "a.log")
    b = Serve(netns, args, *ports[1], urls[::-1], env=FAST, log=tmp_path / "b.log")
    try:
        now = int(time.time())
        with netns.entered():
            room = httpx.post(f"{a.url}/WebAPI/roomcreate", timeout=30, data={
                "key": key, "roomname": "Takeover", "roomtype": 3, "starttime": now - 60,
                "endtime": now + 3600, "passwordrequired": 1, **PASSWORDS}).json()
        assert room["result"] == 0, room
        yield Cluster(a, b, key, str(room["serial"]), data)
    finally:
        a.stop(signal.SIGKILL)
        b.stop()


async def until(pred: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while not (v := pred()):
        assert time.monotonic() < deadline, f"not reached within {within:g} s: {what}"
        await asyncio.sleep(0.1)
    return v


async def enter(node: Serve, serial: str, uid: str, pwd: str,
                **opts: Any) -> tuple[Watched, MediaClient]:
    room = Room()
    room.init("takeover", **opts)
    media = attach(room)
    w = Watched(room)
    await room.joinroom("127.0.0.1", node.port, uid, uid, {"serial": serial, "password": pwd})
    return w, media


def log_lines(folder: Path) -> list[dict[str, Any]]:
    return read_log(folder) if (folder / EVENTS).exists() else []


async def finished(c: Cluster, node: Serve) -> list[dict[str, Any]]:
    """The class's records once none is processing any more."""
    deadline = time.monotonic() + 600
    while True:
        rows = await c.records(node)
        if rows and all(r["state"] != 0 for r in rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(1)


async def test_the_recording_is_started_and_stopped_once_for_the_class(in_netns,
                                                                     two_nodes: Cluster) -> None:
    """startServerRecord through node A; a second start through node B answers 153 (the class
    is recorded); stopServerRecord through node B answers node A's recording id and ends it on
    both nodes: one recording, with the publications of both nodes in it."""
    c = two_nodes
    t, tmedia = await enter(c.a, c.serial, "t1", PASSWORDS["chairmanpwd"])
    a, amedia = await enter(c.b, c.serial, "a1", PASSWORDS["assistantpwd"])
    await tmedia.publishVideo()
    await amedia.publishVideo()
    started = await tmedia.startServerRecord()
    with pytest.raises(CodeError) as e:
        await amedia.startServerRecord()
    assert e.value.code == 153
    folder = (await until(c.folders, 30, "the recording's folder"))[0]
    assert folder.name == started["recordId"]
    await until(lambda: list(folder.glob("tracks-*.jsonl")), 30, "node B recording into it")
    await asyncio.sleep(2)
    stopped = await amedia.stopServerRecord()
    assert stopped["recordId"] == started["recordId"]
    with pytest.raises(CodeError) as e:
        await tmedia.stopServerRecord()
    assert e.value.code == 154
    rows = await finished(c, c.a)
    assert c.folders() == [folder]
    assert sorted(r["recordtype"] for r in rows) == [0, 8] and all(r["state"] == 1 for r in rows)
    recs = read_log(folder)
    files = await asyncio.to_thread(media_files, folder, recs, int(recs[0]["at_ms"]))
    assert sorted(m.userid for m in files if m.kind == "video") == ["a1", "t1"]
    for w in (a, t):
        await w.room.leaveroom()


async def test_the_recording_survives_its_node(in_netns, two_nodes: Cluster) -> None:
    c = two_nodes
    urls = [f"ws://127.0.0.1:{c.b.signal_port}/signal"]
    t, tmedia = await enter(c.a, c.serial, "t1", PASSWORDS["chairmanpwd"],
                            signal_urls=urls, backoff_initial=0.05)
    await tmedia.publishVideo()
    await tmedia.publishAudio()
    await t.room.pubMsg(name="ClassBegin", id="ClassBegin", save=True,
                        data={"record": True, "recordtype": "0"})
    class_began = time.time()
    folder = (await until(c.folders, 30, "the recording's folder"))[0]
    await until(lambda: any(r["kind"] == "track" for r in log_lines(folder)), 30,
                "the teacher's tracks in the event log")

    # a student on node B publishes: B records into the same recording, not one of its own
    s, smedia = await enter(c.b, c.serial, "s1", PASSWORDS["confuserpwd"])
    await t.room.changeUserPublish("s1", 1)
    await until(lambda: (s.room.getUser("s1") or {}).get("properties", {}).get(
        "publishstate") == 1, 15, "the student on stage")
    await smedia.publishAudio()
    await until(lambda: list(folder.glob("tracks-*.jsonl")), 30, "node B's track lines")
    await asyncio.sleep(3)  # recording on both nodes

    killed = time.time()
    c.a.stop(signal.SIGKILL)
    back = await t.wait("room-reconnected", wait=60)
    assert back["resumed"] is True
    # publish again through node B (a moved client's media is not carried over)
    await tmedia.unpublishVideo()
    await tmedia.unpublishAudio()
    republish = time.time()
    await tmedia.publishVideo()
    await tmedia.publishAudio()
    republished = time.time()
    segment = (await until(lambda: [r for r in log_lines(folder) if r["kind"] == "segment"],
                           30, "node B taking the recording over"))[0]
    await asyncio.sleep(3)  # recording on node B alone
    await t.room.delMsg(name="ClassBegin", id="ClassBegin")
    class_ended = time.time()

    # exactly one recording: one folder, one merged MP4 and one event playback
    rows = await finished(c, c.b)
    assert c.folders() == [folder]
    by_type = {}
    for r in rows:
        by_type.setdefault(r["recordtype"], []).append(r)
    assert sorted(by_type) == [0, 8], rows
    assert len(by_type[0]) == 1 and len(by_type[8]) == 1, rows
    mixed = by_type[8][0]
    assert mixed["state"] == 1, mixed
    assert json.loads((folder / "job.json").read_text())["state"] == "done"

    recs = read_log(folder)
    at_ms = int(recs[0]["at_ms"])
    kinds = [r["kind"] for r in recs]
    assert kinds[0] == "start" and kinds.count("segment") == 1 and kinds[-1] == "end"
    assert segment["segment"] == 2 and segment["previous"] and segment["node"] != \
        segment["previous"]
    assert "t1" in {m["id"] for m in segment["members"]}
    # the merged MP4 covers the class, from ClassBegin to its end, on one timeline
    length_ms = (class_ended - class_began) * 1000
    assert mixed["duration_ms"] >= length_ms - 1500, (mixed, length_ms)

    # the teacher's camera: node A's file, then node B's; the gap between them
    files = await asyncio.to_thread(media_files, folder, recs, at_ms)
    cams = sorted((m for m in files if m.userid == "t1" and m.kind == "video"),
                  key=lambda m: m.start_ms)
    assert len(cams) == 2, [m.path.name for m in files]
    first = await asyncio.to_thread(probe, cams[0].path)
    first_end = cams[0].start_ms + int(float(first["format"]["duration"]) * 1000)
    gap_ms = cams[1].start_ms - first_end
    takeover_ms = segment["t"] - (int(killed * 1000) - at_ms)
    republish_ms = int((republished - republish) * 1000)
    back_ms = int((republished - killed) * 1000)
    print(f"\ntakeover: lease taken {takeover_ms} ms after the kill; the teacher back on B and "
          f"publishing {back_ms} ms after it (publishing again: {republish_ms} ms); media gap "
          f"of the recording {gap_ms} ms")
    assert gap_ms <= takeover_ms + republish_ms, (gap_ms, takeover_ms, republish_ms)
    # the student's microphone through node B, recorded from before the kill to the end
    mics = [m for m in files if m.userid == "s1" and m.kind == "audio"]
    assert len(mics) == 1 and mics[0].start_ms < takeover_ms + (int(killed * 1000) - at_ms)
    for w in (s, t):
        await w.room.leaveroom()


async def test_a_recording_stopped_while_its_holder_hangs_is_ended_by_another_node(
        in_netns, two_nodes: Cluster) -> None:
    """Node A holds the recording and stops answering (``SIGSTOP``); stopServerRecord through
    node B stops B's recorders, and B, once A's lease lapsed, takes the recording over to end
    it: the answer comes, and one recording is made."""
    c = two_nodes
    t, tmedia = await enter(c.a, c.serial, "t1", PASSWORDS["chairmanpwd"])
    # the answer waits for A's lease to lapse (5 s) and B to end the recording
    a, amedia = await enter(c.b, c.serial, "a1", PASSWORDS["assistantpwd"], request_timeout=60)
    await amedia.publishVideo()
    started = await tmedia.startServerRecord()
    folder = (await until(c.folders, 30, "the recording's folder"))[0]
    await until(lambda: list(folder.glob("tracks-*.jsonl")), 30, "node B recording into it")
    await asyncio.sleep(2)  # some video in B's file
    c.a.proc.send_signal(signal.SIGSTOP)
    stopped = await amedia.stopServerRecord()
    assert stopped["recordId"] == started["recordId"]
    rows = await finished(c, c.b)
    assert c.folders() == [folder]
    assert sorted(r["recordtype"] for r in rows) == [0, 8], rows
    assert [(r["recordtype"], r["state"], r.get("reason")) for r in rows
            if r["state"] != 1] == []
    kinds = [r["kind"] for r in read_log(folder)]
    assert kinds[0] == "start" and kinds.count("segment") == 1 and kinds[-1] == "end"
    await a.room.leaveroom()
