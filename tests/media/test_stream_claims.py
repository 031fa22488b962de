"""The room-wide stream limits of a class on two nodes, through real Janus (issue 12).

Two nodes share one Redis room state and one Janus: the class has one VideoRoom, and
``maxvideo`` holds for both nodes together even when two students publish at the same moment
(two ``MediaService`` nodes, each with its own ``RedisState`` on one key prefix; and two whole
nodes as ``tkroom serve`` builds them, students joining through the SDK). And every way a
stream goes gives its place back.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from client_node import PASSWORDS
from media.conftest import stop_process
from media.harness import Node
from media.rtc import until
from media.test_cluster_media import cluster, enter, janus_in
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
    # a claim no publication answers for (its release was lost) goes with the class too; made
    # directly, since a's own claim may already be gone with the hangup of its closed client
    assert await state.claim_stream("r", "ghost:video:default", "ghost", True, False, -1, 0) \
        is None
    await svc.release("r")                              # the class ended: nothing stays
    assert await state.stream_claims("r") == {}


async def test_students_on_two_whole_nodes_share_one_stage(in_netns, netns, tmp_path,
                                                           redis_url) -> None:
    """The SDK against two nodes built as ``tkroom serve`` builds them: maxvideo=1 holds for
    two students of different nodes publishing at once, round after round; a student who
    leaves gives the place back."""
    proc, janus = janus_in(netns, tmp_path / "j1")
    members = []
    try:
        async with cluster(tmp_path / "data", redis_url, [janus.url]) as c:
            serial = await c.envs[0].create_room(maxusers=10, maxvideo=1)
            a, b = c.nodes
            teacher = await enter(a, serial, "t1", PASSWORDS["chairmanpwd"])
            s1 = await enter(a, serial, "s1", PASSWORDS["confuserpwd"])
            s2 = await enter(b, serial, "s2", PASSWORDS["confuserpwd"])
            members += [teacher, s1, s2]
            for uid in ("s1", "s2"):
                await teacher.room.changeUserPublish(uid, 3)
            await until(lambda: all((m.room.getMySelf() or {}).get("properties", {})
                                    .get("publishstate") == 3 for m in (s1, s2)), 20,
                        "both on stage")
            for rnd in range(4):
                out = await asyncio.gather(s1.media.publishVideo(), s2.media.publishVideo(),
                                           return_exceptions=True)
                won = [m for m, o in zip((s1, s2), out, strict=True) if isinstance(o, str)]
                lost = [o for o in out if isinstance(o, CodeError)]
                assert len(won) == 1 and len(lost) == 1, f"round {rnd}: {out}"
                assert lost[0].extra["reason"] == 133
                other = s2 if won[0] is s1 else s1
                await won[0].media.unpublishVideo()
                await other.media.publishVideo()
                await other.media.unpublishVideo()
            await s1.media.publishVideo()
            with pytest.raises(CodeError) as e:
                await s2.media.publishVideo()
            assert e.value.extra["reason"] == 133
            await s1.close()                  # leaves the class: its place is free
            members.remove(s1)
            state = b.signal.state
            deadline = asyncio.get_running_loop().time() + 20
            while await state.stream_claims(serial):
                assert asyncio.get_running_loop().time() < deadline, "s1's claim stayed"
                await asyncio.sleep(0.05)
            assert await s2.media.publishVideo() == "s2:video:default"
    finally:
        for m in members:
            await m.media.close()
        stop_process(proc)
