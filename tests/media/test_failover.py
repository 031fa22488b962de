"""A media server dies: the node notices within seconds, moves or re-creates the room, and the
SDK republishes and resubscribes by itself. Also requestServerList / switchServerByName."""

from __future__ import annotations

import asyncio
import time

import pytest

from conftest import need_binary
from media.conftest import start_janus, stop_process
from media.harness import Node
from media.rtc import until
from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.media.janus_process import JanusProcess, JanusSettings

pytestmark = pytest.mark.media


def events(node: Node, user: str, name: str) -> list[dict]:
    return [d for ev, d in node.sink.events[user] if ev == name]


async def test_embedded_janus_restarts_and_media_resumes(in_netns, tmp_path) -> None:
    need_binary("janus")
    proc = JanusProcess(JanusSettings(workdir=tmp_path / "janus", ice_enforce_list="v0",
                                      rtp_port_range="40000-44999"))
    await proc.start()
    node = Node(tmp_path / "rec", RoomInfo("r1", 1))
    try:
        await node.add_server("embedded", proc.url, secret=proc.api_secret)
        node.registry.start()
        alice, bob = node.user("r1", "alice"), node.user("r1", "bob")
        await alice.publishVideo()
        await bob.waitForStream("alice")
        v = await bob.playVideo("alice")
        await until(lambda: v.frames_received > 10, what="frames before the crash")

        killed = time.monotonic()
        proc.kill()
        await until(lambda: not node.registry.servers["embedded"].healthy, 5, "noticed")
        assert time.monotonic() - killed < 3.0
        await until(lambda: events(node, "bob", "onRemoveStream"), 5, "onRemoveStream")
        await until(lambda: proc.restarts == 1, 20, "Janus restarted")
        await until(lambda: events(node, "bob", "mediaServerChanged"), 10, "mediaServerChanged")
        before = v.frames_received
        await until(lambda: v.frames_received > before + 30, 30, "frames after the restart")
    finally:
        try:
            await asyncio.wait_for(node.close(), 30)
        finally:
            await proc.stop()


async def test_room_moves_to_another_server(in_netns, netns, tmp_path) -> None:
    p1, s1 = start_janus(netns, tmp_path / "j1")
    p2, s2 = start_janus(netns, tmp_path / "j2")
    node = Node(tmp_path / "rec", RoomInfo("r1", 1))
    try:
        await node.add_server("j1", s1.url, capacity=100)
        await node.add_server("j2", s2.url, capacity=10)
        node.registry.start()
        teacher = node.user("r1", "t", role=0)
        alice = node.user("r1", "alice")
        await alice.publishVideo()
        listing = await teacher.requestServerList()
        assert listing["current"] == "j1"  # least loaded by share of capacity
        assert {s["serverName"] for s in listing["servers"]} == {"j1", "j2"}
        assert all("url" not in s for s in listing["servers"])  # clients never see Janus
        await teacher.waitForStream("alice")
        v = await teacher.playVideo("alice")
        await until(lambda: v.frames_received > 10, what="frames on j1")

        with pytest.raises(CodeError) as e:
            await teacher.switchServerByName("nowhere")
        assert e.value.code == 151
        with pytest.raises(CodeError) as e:
            await alice.switchServerByName("j2")
        assert e.value.code == 4108
        assert (await teacher.switchServerByName("j2"))["serverName"] == "j2"
        before = v.frames_received
        await until(lambda: v.frames_received > before + 30, 30, "frames on j2")
        assert node.service.rooms["r1"].server.id == "j2"

        stop_process(p2)  # the room's server dies: it moves back to j1
        await until(lambda: node.service.rooms["r1"].server is not None and
                    node.service.rooms["r1"].server.id == "j1", 10, "moved to j1")
        before = v.frames_received
        await until(lambda: v.frames_received > before + 30, 30, "frames on j1 again")
        assert (await teacher.requestServerList())["current"] == "j1"
    finally:
        try:
            await asyncio.wait_for(node.close(), 30)
        finally:
            stop_process(p1)
            stop_process(p2)


async def test_hung_server_is_noticed_by_the_health_check(in_netns, netns, tmp_path) -> None:
    """A Janus that stops answering (SIGSTOP) keeps its socket open: only the periodic
    ``info`` notices it. The room moves within seconds and media resumes."""
    import os
    import signal

    p1, s1 = start_janus(netns, tmp_path / "j1")
    p2, s2 = start_janus(netns, tmp_path / "j2")
    node = Node(tmp_path / "rec", RoomInfo("r1", 1))
    try:
        await node.add_server("j1", s1.url, capacity=100)
        await node.add_server("j2", s2.url, capacity=10)
        node.registry.start()
        alice, bob = node.user("r1", "alice"), node.user("r1", "bob")
        await alice.publishVideo()
        await bob.waitForStream("alice")
        v = await bob.playVideo("alice")
        await until(lambda: v.frames_received > 10, what="frames on j1")
        assert node.service.rooms["r1"].server.id == "j1"

        os.kill(p1.pid, signal.SIGSTOP)
        hung = time.monotonic()
        await until(lambda: not node.registry.servers["j1"].healthy, 10, "hang noticed")
        assert time.monotonic() - hung < 4.0
        await until(lambda: node.service.rooms["r1"].server is not None and
                    node.service.rooms["r1"].server.id == "j2", 10, "moved to j2")
        before = v.frames_received
        await until(lambda: v.frames_received > before + 30, 30, "frames on j2")
    finally:
        os.kill(p1.pid, signal.SIGCONT)
        try:
            await asyncio.wait_for(node.close(), 30)
        finally:
            stop_process(p1)
            stop_process(p2)
