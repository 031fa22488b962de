"""``RoomState.dead_nodes``: which other nodes the state takes for dead (their heartbeat expired),
asked by the media plane to remove what a dead node left in a class's VideoRoom."""

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
