"""The room-wide stream limits of a class on two nodes, through real Janus (issue 12).

Two ``MediaService`` nodes share one Redis room state (their own ``RedisState`` each, one key
prefix) and one Janus: the class has one VideoRoom, and ``maxvideo`` holds for both nodes
together even when two students publish at the same moment. And every way a stream goes
gives its place back.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from media.harness import Node
from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.media.janus_process import JanusSettings
from tkroom.rooms.model import STUDENT
from tkroom.state.memory import MemoryState
from tkroom.state.redis import RedisState

pytestmark = pytest.mark.media

ROUNDS = 8


@pytest.fixture
async def two_nodes(in_netns, janus: JanusSettings, redis_url: str,
                    tmp_path) -> AsyncIterator[list[Node]]:
    prefix = f"c{secrets.token_hex(4)}"
    states = [RedisState(redis_url, prefix=prefix, node=f"node{i}") for i in range(2)]
    nodes: list[Node] = []
    try:
        for i, st in enumerate(states):
            await st.start()
            node = Node(tmp_path / f"rec{i}", RoomInfo("r", 1, maxvideo=1, maxaudio=0),
                        shared=st)
            await node.add_server("j1", janus.url)
            node.registry.start()
            nodes.append(node)
        yield nodes
    finally:
        for node in nodes:
            await node.close()
        for st in states:
            await st.stop()


async def test_maxvideo_holds_across_nodes_under_concurrent_publishing(
        two_nodes: list[Node]) -> None:
    a, b = two_nodes
    s1, s2 = a.user("r", "s1"), b.user("r", "s2")
    state = a.service.shared
    assert isinstance(state, RedisState)
    for rnd in range(ROUNDS):
        out = await asyncio.gather(s1.publishVideo(), s2.publishVideo(), return_exceptions=True)
        admitted = [c for c, o in zip((s1, s2), out, strict=True) if isinstance(o, str)]
        refused = [o for o in out if isinstance(o, CodeError)]
        assert len(admitted) == 1 and len(refused) == 1, f"round {rnd}: {out}"
        assert refused[0].extra["reason"] == 133, f"round {rnd}: {refused[0]}"
        claims = await state.stream_claims("r")
        assert list(claims) == [f"{admitted[0].userid}:video:default"]
        # the admitted student steps down: the other one may publish now, on its own node
        other = s2 if admitted[0] is s1 else s1
        await admitted[0].unpublishVideo()
        assert await other.publishVideo() == f"{other.userid}:video:default"
        await other.unpublishVideo()
    assert await state.stream_claims("r") == {}


async def test_a_node_that_dies_leaves_the_stage_free(two_nodes: list[Node]) -> None:
    a, b = two_nodes
    s1, s2 = a.user("r", "s1"), b.user("r", "s2")
    await s1.publishVideo()
    with pytest.raises(CodeError) as e:
        await s2.publishVideo()
    assert e.value.extra["reason"] == 133
    dead = a.service.shared
    assert isinstance(dead, RedisState)
    for task in dead._tasks:        # node A crashes: its heartbeat stops, nothing is released
        task.cancel()
    alive = b.service.shared
    assert isinstance(alive, RedisState)
    deadline = asyncio.get_running_loop().time() + 30
    while await alive.stream_claims("r"):
        await alive.expired_sessions(asyncio.get_running_loop().time())   # the node's sweep
        assert asyncio.get_running_loop().time() < deadline, "the dead node's claim stayed"
        await asyncio.sleep(0.1)
    assert await s2.publishVideo() == "s2:video:default"


@pytest.fixture
async def node(in_netns, janus: JanusSettings, tmp_path) -> AsyncIterator[Node]:
    n = Node(tmp_path / "rec", RoomInfo("r", 1, maxvideo=1, maxaudio=0))
    await n.add_server("j1", janus.url)
    n.registry.start()
    yield n
    await n.close()


async def test_every_way_a_stream_goes_gives_its_place_back(node: Node) -> None:
    state = node.service.shared
    assert isinstance(state, MemoryState)
    a, b = node.user("r", "a"), node.user("r", "b")
    svc = node.service

    async def a_on_stage() -> None:
        await a.publishVideo()
        assert set(await state.stream_claims("r")) == {"a:video:default"}
        with pytest.raises(CodeError):
            await b.publishVideo()

    async def place_is_free() -> None:
        assert await state.stream_claims("r") == {}
        await b.publishVideo()
        await b.unpublishVideo()
        assert await state.stream_claims("r") == {}

    await a_on_stage()
    await a.unpublishVideo()                            # unpublished
    await place_is_free()

    with pytest.raises(CodeError) as e:                 # the media server refuses the offer
        await svc.handle("publish", "r", "a", STUDENT,
                         {"type": "video", "jsep": {"type": "offer", "sdp": "v=0\r\n"}})
    assert e.value.code == 131
    await place_is_free()

    await a_on_stage()
    await a.close()                                     # (its client stops first)
    await svc.stage_changed("r", "a", STUDENT, 1)       # the teacher leaves a audio only
    await place_is_free()

    a = node.user("r", "a")
    await a_on_stage()
    await a.close()                                     # (its client stops first)
    await svc.user_left("r", "a")                       # left, evicted or replaced
    await place_is_free()

    a = node.user("r", "a")
    await a_on_stage()
    await a.close()                                     # (its client stops first)
    await svc.failover.drop_streams(svc.rooms["r"])     # the class moves to another server
    await place_is_free()

    a = node.user("r", "a")
    await a_on_stage()
    await a.close()
    # a claim no publication answers for (its release was lost) goes with the class too
    state.streams["r"]["ghost:video:default"] = state.streams["r"].pop("a:video:default")
    await svc.release("r")                              # the class ended: nothing stays
    assert await state.stream_claims("r") == {}
