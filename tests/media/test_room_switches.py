"""Audio-only rooms and server recording, with real media through Janus."""

from __future__ import annotations

import asyncio

import pytest

from media.harness import Node
from media.rtc import until
from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.media.janus_process import JanusSettings
from tkroom.media.recording import probe, tools_available

pytestmark = pytest.mark.media


@pytest.fixture
async def node(in_netns, janus: JanusSettings, tmp_path):
    n = Node(tmp_path / "rec", RoomInfo("r1", 1, maxvideo=6))
    await n.add_server("j1", janus.url)
    yield n
    await n.close()


def events(node: Node, user: str, name: str) -> list[dict]:
    return [d for ev, d in node.sink.events[user] if ev == name]


async def test_audio_only_room_withdraws_and_restores_video(node: Node) -> None:
    teacher = node.user("r1", "t", role=0)
    alice = node.user("r1", "alice")
    await alice.publishVideo(deviceId="cam1")
    await alice.publishAudio()
    await teacher.waitForStream("alice", "video", "cam1")
    await teacher.waitForStream("alice", "audio")
    v = await teacher.playVideo("alice", "cam1")
    a = await teacher.playAudio("alice")
    await until(lambda: v.frames_received > 10 and a.frames_received > 10, what="media")

    await teacher.switchOnlyAudioRoom(True)
    w = [n for n in alice.notices if n["code"] == 1011]
    assert len(w) == 1 and w[0]["kind"] == "warn" and w[0]["deviceId"] == "cam1"
    assert [d["streamId"] for d in events(node, "t", "onRemoveStream")] == ["alice:video:cam1"]
    with pytest.raises(CodeError) as e:
        await alice.publishVideo(deviceId="cam2")
    assert (e.value.code, e.value.extra["reason"]) == (2526, 4108)
    audio_before = a.frames_received
    await until(lambda: a.frames_received > audio_before + 10, what="audio goes on")

    video_before = v.frames_received
    await teacher.switchOnlyAudioRoom(False)
    assert [n["deviceId"] for n in alice.notices if n["code"] == 1012] == ["cam1"]
    # the SDK republishes the camera by itself; the teacher's player resubscribes by itself
    await until(lambda: v.frames_received > video_before + 20, 20, "video back")


@pytest.mark.skipif(not tools_available(), reason="janus-pp-rec / ffmpeg missing")
async def test_server_recording_produces_playable_files(node: Node) -> None:
    teacher = node.user("r1", "t", role=0)
    alice = node.user("r1", "alice")
    bob = node.user("r1", "bob")
    await alice.publishVideo()
    await alice.publishAudio()
    with pytest.raises(CodeError) as e:
        await alice.stopServerRecord()
    assert e.value.code == 4108
    with pytest.raises(CodeError) as e:
        await teacher.stopServerRecord()
    assert e.value.code == 154
    started = await teacher.startServerRecord()
    with pytest.raises(CodeError) as e:
        await teacher.startServerRecord()
    assert e.value.code == 153
    await bob.publishVideo()  # joins the recording while it runs
    await asyncio.sleep(3.0)
    stopped = await teacher.stopServerRecord()
    assert stopped["recordId"] == started["recordId"]
    await asyncio.wait_for(asyncio.gather(*node.service.postprocessing), 120)

    rows = {r["kind"] + ":" + r["userid"]: r for r in node.records.rows}
    assert set(rows) == {"publisher:alice", "publisher:bob", "mixed:"}
    for r in rows.values():
        assert r["serial"] == "r1" and r["size"] > 1000
        assert r["starttime"] == started["starttime"]
    alice_file = await probe(rows["publisher:alice"]["path"])
    kinds = sorted(s["codec_type"] for s in alice_file["streams"])
    assert kinds == ["audio", "video"]
    assert 2.0 < float(alice_file["format"]["duration"]) < 6.0
    mixed = await probe(rows["mixed:"]["path"])
    vs = [s for s in mixed["streams"] if s["codec_type"] == "video"]
    assert len(vs) == 1 and (vs[0]["width"], vs[0]["height"]) == (640, 240)  # two tiles
    assert [s["codec_type"] for s in mixed["streams"]].count("audio") == 1
    assert 2.0 < float(mixed["format"]["duration"]) < 6.0
