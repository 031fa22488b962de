"""Publish/subscribe failures and the SDK's own retries: 131, 132, 134, 141, 142, 1013, 1014.

Two ways the media path fails while signalling (on loopback) still works: the namespace's
link is cut (both veth ends down: Janus cannot even set up ICE, 131/141), or a firewall drops
the ICE candidates of one user (ICE never connects: 132/142).
"""

from __future__ import annotations

import asyncio

import pytest

from media.harness import Node
from media.rtc import until
from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.media.janus_process import JanusSettings
from tkroom.media.netns import NetNamespace

pytestmark = pytest.mark.media


@pytest.fixture
async def node(in_netns, janus: JanusSettings, tmp_path):
    n = Node(tmp_path / "rec", RoomInfo("r1", 1), publish_timeout=3.0, subscribe_timeout=3.0)
    await n.add_server("j1", janus.url)
    yield n
    await n.close()


@pytest.fixture
def cut(netns: NetNamespace):
    netns.set_link(up=False)
    try:
        yield netns
    finally:
        netns.set_link(up=True)


async def test_publish_gives_up_after_max_reconnect(node: Node, cut) -> None:
    alice = node.user("r1", "alice", max_reconnect=1, publish_timeout=1.5, retry_delay=0.1)
    with pytest.raises(CodeError) as e:
        await alice.publishVideo(deviceId="cam1")
    assert (e.value.code, e.value.extra["reason"]) == (2526, 134)
    errs = [n for n in alice.notices if n["kind"] == "error"]
    assert [n["code"] for n in errs] == [131, 131, 134], errs
    assert all((n["userId"], n["type"], n["deviceId"]) == ("alice", "video", "cam1")
               for n in errs)
    assert [n["code"] for n in alice.notices if n["kind"] == "warn"] == [1013]
    assert not node.service.rooms["r1"].pubs  # the SDK withdrew it on the server too

    with pytest.raises(CodeError) as e:
        await alice.publishAudio()
    assert e.value.extra["reason"] == 134
    assert [n["code"] for n in alice.notices if n["kind"] == "warn"] == [1013, 1014]


async def test_publish_retries_until_the_network_is_back(node: Node, netns) -> None:
    alice = node.user("r1", "alice", publish_timeout=1.5, retry_delay=0.1)
    bob = node.user("r1", "bob")
    netns.set_link(up=False)
    try:
        task = asyncio.create_task(alice.publishVideo())
        await until(lambda: 131 in node.codes(alice, "error"), 10, "a failed attempt")
    finally:
        netns.set_link(up=True)
    assert await asyncio.wait_for(task, 20) == "alice:video:default"
    await bob.waitForStream("alice")
    v = await bob.playVideo("alice")
    await until(lambda: v.frames_received > 10, 15, "frames after retrying")
    assert 134 not in node.codes(alice)


async def test_publish_timeout_behind_a_firewall(node: Node) -> None:
    alice = node.user("r1", "alice", block_media=True, max_reconnect=1, publish_timeout=1.5,
                      retry_delay=0.1)
    with pytest.raises(CodeError) as e:
        await alice.publishAudio()
    assert (e.value.code, e.value.extra["reason"]) == (2526, 134)
    assert node.codes(alice, "error") == [132, 132, 134]
    assert node.codes(alice, "warn") == [1014]


async def test_subscribe_failures_and_give_up(node: Node, netns) -> None:
    alice = node.user("r1", "alice")
    bob = node.user("r1", "bob", block_media=True, max_reconnect=0, subscribe_timeout=1.5)
    carol = node.user("r1", "carol", max_reconnect=0, subscribe_timeout=1.5)
    await alice.publishVideo()
    await bob.waitForStream("alice")
    with pytest.raises(CodeError) as e:
        await bob.playVideo("alice")
    assert (e.value.code, e.value.extra["reason"]) == (2528, 142)
    n = next(n for n in bob.notices if n["code"] == 142)
    assert (n["kind"], n["userId"], n["type"], n["deviceId"]) == ("error", "alice", "video",
                                                                 "default")
    netns.set_link(up=False)
    try:
        with pytest.raises(CodeError) as e:
            await carol.playVideo("alice")
    finally:
        netns.set_link(up=True)
    assert e.value.code == 2528
    assert e.value.extra["reason"] in (141, 142), e.value


async def test_server_side_failures_carry_the_stream_fields(node: Node) -> None:
    bad_offer = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}
    with pytest.raises(CodeError) as e:
        await node.service.handle("publish", "r1", "zed", 2,
                                  {"type": "video", "deviceId": "c9", "jsep": bad_offer})
    assert e.value.code == 131
    assert e.value.extra == {"userId": "zed", "type": "video", "deviceId": "c9"}
    assert not node.service.rooms["r1"].pubs

    alice = node.user("r1", "alice")
    await alice.publishVideo()
    await until(lambda: node.service.rooms["r1"].pubs["alice:video:default"].flowing,
                what="flowing")
    ack = await node.service.handle("subscribe", "r1", "bob", 2, {"streamId": "alice:video:default"})
    with pytest.raises(CodeError) as e:
        await node.service.handle("signaling_message", "r1", "bob", 2,
                                  {"id": ack["subscriptionId"],
                                   "jsep": {"type": "answer", "sdp": "garbage"}})
    assert e.value.code == 141


async def test_server_watchdog_reports_publish_timeout(node: Node) -> None:
    """A client whose media never connects: the node tells it 132 itself."""
    alice = node.user("r1", "alice", block_media=True, publish_timeout=30)
    task = asyncio.create_task(alice.publishVideo())
    try:
        await until(lambda: any(ev == "notice" and d["code"] == 132
                                for ev, d in node.sink.events["alice"]), 10, "server's 132")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
