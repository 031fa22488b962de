"""MediaService + the SDK's media side through a real Janus, with real frames."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from media.harness import Node
from media.rtc import until
from media.slowlink import slow_link
from tkroom.client.sources import PatternTrack, VideoProfile
from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.media.janus_process import JanusSettings

pytestmark = pytest.mark.media


@pytest.fixture
async def node(in_netns, janus: JanusSettings, tmp_path):
    n = Node(tmp_path / "rec", RoomInfo("r1", 1, maxvideo=2, maxaudio=0),
             RoomInfo("r2", 1, maxvideo=6), RoomInfo("r3", 1, maxvideo=6, maxaudio=1))
    await n.add_server("j1", janus.url)
    n.registry.start()
    yield n
    await n.close()


async def test_publish_to_two_subscribers_counts_frames(node: Node) -> None:
    alice = node.user("r1", "alice")
    bob = node.user("r1", "bob")
    carol = node.user("r1", "carol", role=3)  # live viewers play, never publish
    sid = await alice.publishVideo()
    assert sid == "alice:video:default"
    await until(lambda: sid in bob.available, what="onAddStream")
    await carol.waitForStream("alice")
    b = await bob.playVideo("alice")
    c = await carol.playVideo("alice")
    await until(lambda: b.frames_received >= 30 and c.frames_received >= 30, 20, "30 frames each")
    frame = await anext(b.frames())
    assert (frame.width, frame.height) == (640, 480)
    await until(lambda: 2001 in node.codes(alice, "info"), what="2001 at the publisher")
    await until(lambda: 2002 in node.codes(bob, "info") and 2002 in node.codes(carol, "info"),
                what="2002 at the subscribers")
    n2001 = next(n for n in alice.notices if n["code"] == 2001)
    assert (n2001["userId"], n2001["type"], n2001["deviceId"]) == ("alice", "video", "default")

    with pytest.raises(CodeError) as e:
        await carol.publishVideo()
    assert (e.value.code, e.value.extra["reason"]) == (2526, 4108)

    await alice.unpublishVideo()
    await until(lambda: any(ev == "onRemoveStream" for ev, _ in node.sink.events["bob"]),
                what="onRemoveStream")
    before = b.frames_received
    await asyncio.sleep(0.5)
    assert b.frames_received - before <= 2
    await bob.unplayVideo("alice")


async def test_audio_and_several_cameras(node: Node) -> None:
    alice = node.user("r2", "alice")
    bob = node.user("r2", "bob")
    await alice.publishAudio()
    await alice.publishVideo(deviceId="cam1")
    await alice.publishVideo(deviceId="cam2")
    streams = await bob.getStreams()
    await until(lambda: len(bob.available) == 3, what="three streams")
    assert {s["streamId"] for s in bob.available.values()} == {
        "alice:audio:default", "alice:video:cam1", "alice:video:cam2"}, streams
    a = await bob.playAudio("alice")
    v2 = await bob.playVideo("alice", "cam2")
    await until(lambda: a.frames_received >= 25 and v2.frames_received >= 20, 20, "audio+video")
    frame = await anext(a.frames())
    assert frame.sample_rate == 48000


async def test_limits(node: Node) -> None:
    a, b, c = node.user("r1", "a"), node.user("r1", "b"), node.user("r1", "c")
    await a.publishVideo()
    with pytest.raises(CodeError) as e:  # same camera twice: too many publications
        await node.service.handle("publish", "r1", "a", 2,
                                  {"type": "video", "jsep": {"type": "offer", "sdp": "v=0"}})
    assert e.value.code == 2601
    await b.publishVideo()
    with pytest.raises(CodeError) as e:  # maxvideo = 2
        await c.publishVideo()
    assert (e.value.code, e.value.extra["reason"]) == (2526, 133)
    assert 133 in node.codes(c, "error")
    await c.publishAudio()  # audio is not limited by maxvideo
    with pytest.raises(CodeError) as e:
        await node.service.handle("subscribe", "r1", "c", 2, {"streamId": "nobody:video:default"})
    assert e.value.code == 143
    with pytest.raises(CodeError) as e:
        await c.playVideo("nobody")
    assert (e.value.code, e.value.extra["reason"]) == (2528, 143)
    with pytest.raises(CodeError) as e:
        await node.service.handle("publish", "r1", "i", 4,
                                  {"type": "audio", "jsep": {"type": "offer", "sdp": "v=0"}})
    assert e.value.code == 4108


async def test_maxaudio(node: Node) -> None:
    a, b = node.user("r3", "a"), node.user("r3", "b")
    await a.publishAudio()
    with pytest.raises(CodeError) as e:
        await b.publishAudio()
    assert e.value.extra["reason"] == 133
    await b.publishVideo()  # video is not limited by maxaudio
    await a.unpublishAudio()
    await b.publishAudio()  # the seat is free again


@pytest.fixture
def clip(tmp_path):
    """A 20 s media file with VP8 video and Opus audio."""
    path = tmp_path / "clip.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "20",
                    "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-y",
                    str(path)], check=True, timeout=120)
    return path


async def test_screen_share_and_shared_media_file(node: Node, clip) -> None:
    alice, bob = node.user("r2", "alice"), node.user("r2", "bob")
    await alice.startShareScreen(PatternTrack(VideoProfile(1280, 720, 15)))
    await alice.publishMedia(str(clip))
    await bob.waitForStream("alice", "screen")
    await bob.waitForStream("alice", "media")
    desc = bob.available["alice:media:default"]
    assert desc["audio"] and desc["video"]
    screen = await bob.playVideo("alice", type="screen")
    media = await bob.playVideo("alice", type="media")
    await until(lambda: screen.frames_received > 10, 20, "screen frames")
    kinds: set[str] = set()

    async def collect() -> None:
        async for frame in media.frames():
            kinds.add(type(frame).__name__)
            if len(kinds) == 2:
                return

    await asyncio.wait_for(collect(), 20)
    assert kinds == {"VideoFrame", "AudioFrame"}
    frame = await anext(screen.frames())
    assert (frame.width, frame.height) == (1280, 720)
    await alice.stopShareScreen()
    await alice.unpublishMedia()
    await until(lambda: not bob.available, 10, "both withdrawn")


async def test_a_stream_plays_as_soon_as_its_publish_call_returns(in_netns, janus: JanusSettings,
                                                                   tmp_path) -> None:
    """``await publishAudio()`` means the room has the stream: another user lists and plays
    it at once, even when Janus's events reach the node late (a slow link to Janus)."""
    async with slow_link(janus.ws_port, delay=0.4) as port:
        n = Node(tmp_path / "rec", RoomInfo("r1", 1))
        try:
            await n.add_server("far", f"ws://127.0.0.1:{port}")
            n.registry.start()
            alice, bob = n.user("r1", "alice"), n.user("r1", "bob")
            await alice.publishAudio()
            assert [s["streamId"] for s in await bob.getStreams()] == ["alice:audio:default"]
            a = await bob.playAudio("alice")
            await until(lambda: a.frames_received > 10, 20, "audio at bob")
        finally:
            await n.close()


async def test_layers_are_asked_by_the_subscriber_only_and_checked(node: Node) -> None:
    """A one-layer (aiortc) stream answers layer None; bad layer names are 103; someone
    else's subscription is 143; a simulcast offer in a room that takes one layer is 103."""
    alice = node.user("r2", "alice")
    bob = node.user("r2", "bob")
    eve = node.user("r2", "eve")
    await alice.publishVideo()
    b = await bob.playVideo("alice", layer="low")
    assert b.current_layer is None  # aiortc sends one layer: nothing to choose
    assert await bob.setVideoLayer("alice", "medium") is None
    for bad in ("huge", 7, None):
        with pytest.raises(CodeError) as e:
            await node.service.handle("setVideoLayer", "r2", "bob", 2,
                                      {"subscriptionId": b.subscription_id, "layer": bad})
        assert e.value.code == 103
    with pytest.raises(CodeError) as e:
        await node.service.handle("setVideoLayer", "r2", "eve", 2,
                                  {"subscriptionId": b.subscription_id, "layer": "low"})
    assert e.value.code == 143
    with pytest.raises(CodeError) as e:
        await node.service.handle("subscribe", "r2", "eve", 2,
                                  {"streamId": "alice:video:default", "layer": "top"})
    assert e.value.code == 103
    assert (await node.service.handle("getStreams", "r2", "eve", 2, {}))["simulcast"] is True
    await until(lambda: b.frames_received >= 10, 20, "frames after the layer requests")
    await eve.close()

    node.directory.rooms["s1"] = RoomInfo("s1", 1, videotype=1)  # 320x240: one layer
    offer = {"type": "offer", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
             "a=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l\r\n"}
    assert (await node.service.handle("getStreams", "s1", "zoe", 2, {}))["simulcast"] is False
    with pytest.raises(CodeError) as e:
        await node.service.handle("publish", "s1", "zoe", 2, {"type": "video", "jsep": offer})
    assert e.value.code == 103 and "simulcast" in e.value.message
    with pytest.raises(CodeError) as e:
        await node.service.handle("publish", "r2", "zoe", 2, {"type": "screen", "jsep": offer})
    assert e.value.code == 103


async def test_withdrawing_an_abandoned_attempt_leaves_the_newer_publication(node: Node) -> None:
    """A publisher publishes again under the same stream id (its connection failed, the
    server moved): it withdraws its earlier attempt by that attempt's id first; such a
    request arriving late answers 143 and the newer publication stays, its subscriber keeps
    decoding."""
    alice, bob = node.user("r2", "alice"), node.user("r2", "bob")
    sid = await alice.publishVideo()
    mine = alice.local[("video", "default")]
    first = mine.publication_id
    assert first.startswith("pub-")
    b = await bob.playVideo("alice")
    await until(lambda: b.frames_received >= 10, 20, "frames of the first publication")
    await alice.dispatch("mediaServerChanged", {"serverName": "j1", "reason": "mediaServerUp"})
    await until(lambda: mine.publication_id not in ("", first) and mine.announced.is_set(),
                20, "the second publication announced")
    second = mine.publication_id
    with pytest.raises(CodeError) as e:
        await node.service.handle("unpublish", "r2", "alice", 2,
                                  {"streamId": sid, "publicationId": first})
    assert e.value.code == 143
    await until(lambda: b.pc is not None and b.publication_id == second, 20,
                "bob playing the second publication")
    before = b.frames_received
    await until(lambda: b.frames_received >= before + 30, 20, "frames of the second one")
    assert [s["publicationId"] for s in await bob.getStreams()] == [second]
    assert not node.codes(alice, "error") and mine.publication_id == second
    await node.service.handle("unpublish", "r2", "alice", 2,
                              {"streamId": sid, "publicationId": second})
    await until(lambda: not bob.available, 10, "withdrawn by its own id")
