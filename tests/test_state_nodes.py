"""What the room state says of the nodes of a cluster: which are dead (``dead_nodes``: their
heartbeat expired; the media plane removes what a dead node left in a class's VideoRoom), and
the Janus servers nodes offer to the others (``share_media_server``)."""

from __future__ import annotations

import asyncio
import secrets
import time

from redis_proc import RedisProc
from tkroom.state.memory import MemoryState
from tkroom.state.redis import RedisState


async def test_memory_state_has_no_other_node() -> None:
    st = MemoryState()
    assert st.node == ""
    assert await st.dead_nodes(["a", "b", ""]) == set()
    await st.share_media_server({"url": "ws://10.0.0.5:8188", "secret": "s"})
    assert await st.shared_media_servers() == {}, "no other node to offer it to"


async def _silent(st: RedisState, other: RedisState) -> None:
    """``st`` crashes (its heartbeat stops); returns once its heartbeat key expired (and the
    session's Redis, perhaps just started, is older than two heartbeat lives)."""
    for task in st._tasks:
        task.cancel()
    assert other.redis is not None
    deadline = time.monotonic() + 10
    while await other.redis.exists(f"{other.g}hb:{st.node}") or \
            (await other.redis.info("server"))["uptime_in_seconds"] < 1:
        assert time.monotonic() < deadline, "the heartbeat key never expired"
        await asyncio.sleep(0.02)


async def test_a_node_whose_heartbeat_expired_is_dead(redis_url) -> None:
    prefix = f"d{secrets.token_hex(4)}"
    dead = RedisState(redis_url, prefix=prefix, node="dead", heartbeat=0.05)
    alive = RedisState(redis_url, prefix=prefix, node="alive", heartbeat=0.05)
    await dead.start()
    await alive.start()
    try:
        assert await alive.dead_nodes(["dead", "alive"]) == set()
        await _silent(dead, alive)
        assert await alive.dead_nodes(["dead", "alive", ""]) == {"dead"}
        assert await alive.dead_nodes([]) == set()
        await alive.expired_sessions(time.time())  # the sweep forgets the node: still dead
        assert await alive.dead_nodes(["dead"]) == {"dead"}
        assert await dead.dead_nodes(["dead"]) == set(), "never itself"
    finally:
        await alive.stop()
        await dead.stop()


async def test_after_a_redis_restart_no_node_is_taken_for_dead_at_once(tmp_path) -> None:
    """Redis came back empty: no heartbeat key exists until each node beats again, which says
    nothing of the nodes."""
    redis = RedisProc(directory=tmp_path)
    redis.start()
    a = RedisState(redis.url, node="a", heartbeat=1.0)
    try:
        await a.start()
        redis.kill()
        redis.start()
        assert await a.dead_nodes(["b"]) == set(), "Redis is younger than two heartbeat lives"
    finally:
        await a.stop()
        redis.stop()


async def test_nodes_offer_their_janus_to_the_cluster(redis_url) -> None:
    prefix = f"d{secrets.token_hex(4)}"
    a = RedisState(redis_url, prefix=prefix, node="a", heartbeat=0.05)
    b = RedisState(redis_url, prefix=prefix, node="b", heartbeat=0.05)
    await a.start()
    await b.start()
    try:
        assert await b.shared_media_servers() == {}
        await a.share_media_server({"url": "ws://10.0.0.5:8188", "secret": "s3"})
        await a.share_media_server({"url": "ws://10.0.0.5:8189", "secret": "s4"})  # replaced
        await b.share_media_server({"url": "ws://10.0.0.6:8188", "secret": "s5"})
        assert await b.shared_media_servers() == {
            "a": {"url": "ws://10.0.0.5:8189", "secret": "s4"},
            "b": {"url": "ws://10.0.0.6:8188", "secret": "s5"}}
        await a.share_media_server(None)                       # withdrawn (a stops)
        await b.forget_media_server("b")
        assert await a.shared_media_servers() == {}
    finally:
        await a.stop()
        await b.stop()
