"""The Redis backend against the reference (memory) backend, and across two "nodes".

Random sequences of operations are applied to a ``MemoryState`` and to two ``RedisState``
instances sharing one Redis (alternating, like two nodes); every outcome must be identical.
Then the cluster-only behaviours: limits under concurrent joins on two nodes, a dead node's
sessions detached and expired by the survivor, a wrongly reaped node taking its sessions back.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tkroom.rooms.model import ALL, Event, Target, new_member
from tkroom.rooms.transitions import JoinPolicy, SavePolicy
from tkroom.state.base import Session
from tkroom.state.memory import MemoryState
from tkroom.state.redis import RedisState

pytestmark = pytest.mark.redis

USERS = [f"u{i}" for i in range(4)]
MSG_IDS = [f"m{i}" for i in range(4)]

_room = st.sampled_from(["r", "r", "r", "r:2"])
_value = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False),
                   st.text(max_size=5), st.just([]), st.just({}),
                   st.lists(st.integers(), max_size=3))
_join = st.tuples(st.just("join"), _room, st.sampled_from(USERS), st.sampled_from([0, 2, 2, 3, 1, 4]),
                  st.booleans(), st.integers(0, 2), st.sampled_from([None, 0, 1]),
                  st.dictionaries(st.sampled_from(["a", "publishstate", "ü"]), _value, max_size=2),
                  st.integers(0, 20))
_author = st.sampled_from(["", "", "u0", "u1"])     # "" = a super user: anyone's message
_save = st.tuples(st.just("save"), _room, st.sampled_from(MSG_IDS),
                  st.none() | st.sampled_from(MSG_IDS), st.none() | st.sampled_from(USERS), _value,
                  st.sampled_from(USERS[:2]), _author, st.integers(0, 4), st.integers(0, 2),
                  st.integers(0, 2))
OPS = st.one_of(
    _join, _join, _join, _save, _save,
    st.tuples(st.just("bar"), _room, st.sampled_from(USERS), st.integers(0, 20),
              st.integers(0, 20)),
    st.tuples(st.just("leave"), _room, st.sampled_from(USERS), st.booleans(), st.booleans()),
    st.tuples(st.just("props"), _room, st.sampled_from(USERS),
              st.dictionaries(st.sampled_from(["a", "b", "publishstate", "role"]), _value,
                              max_size=3)),
    st.tuples(st.just("delete"), _room, st.sampled_from(MSG_IDS), _author),
    st.tuples(st.just("clear"), _room, st.sampled_from(MSG_IDS)),
    st.tuples(st.just("chat"), _room, st.sampled_from(USERS), st.integers(0, 5000)),
    st.tuples(st.just("publish"), _room, st.integers(1, 4)),
    st.tuples(st.just("replay"), _room, st.integers(-1, 12)),
    st.tuples(st.just("read"), _room, st.booleans()),
)


def view(x: Any) -> Any:
    """A comparable form of any outcome (dataclasses become dicts)."""
    if hasattr(x, "__dataclass_fields__"):
        return {k: view(getattr(x, k)) for k in x.__dataclass_fields__}
    if isinstance(x, list | tuple):
        return [view(v) for v in x]
    if isinstance(x, dict):
        return {k: view(v) for k, v in x.items()}
    return x


async def apply(state: Any, op: tuple[Any, ...], sessions: dict[tuple[str, str], str]) -> Any:
    kind, serial = op[0], op[1]
    if kind == "join":
        _, _, uid, role, single, maxusers, maxviewers, custom, at = op
        sid = f"s{len(sessions)}"
        out = await state.add_member(serial, new_member(uid, role, uid, sid, custom, at),
                                     JoinPolicy(maxusers, maxviewers, single))
        if out.code == 0:
            sessions[(serial, uid)] = sid
        return out
    if kind == "leave":
        _, _, uid, own, keep = op
        return await state.remove_member(serial, uid, sessions.get((serial, uid), "x")
                                         if own else "", keep)
    if kind == "props":
        return await state.update_properties(serial, op[2], op[3])
    if kind == "save":
        _, _, mid, amsg, auser, data, by, author, max_room, max_user, max_children = op
        msg: dict[str, Any] = {"id": mid, "name": mid, "data": data, "fromID": by}
        if amsg:
            msg["associatedMsgID"] = amsg
        if auser:
            msg["associatedUserID"] = auser
        return await state.save_message(serial, msg, SavePolicy(max_room, max_user, max_children),
                                        author=author)
    if kind == "delete":
        return await state.delete_message(serial, op[2], op[3])
    if kind == "clear":
        return await state.delete_children(serial, op[2])
    if kind == "bar":
        return await state.bar_member(serial, op[2], op[3], op[4])
    if kind == "chat":
        return await state.chat_gate(serial, op[2], op[3], 1000)
    if kind == "publish":
        return [await state.publish(serial, Event("x", {"i": i, "v": [], "o": {}},
                                                  Target("roles", roles=(0, 1))))
                for i in range(op[2])]
    if kind == "replay":
        return await state.replay(serial, op[2])
    return [await state.snapshot(serial, op[2]), await state.count_members(serial),
            await state.get_members(serial), await state.get_members(serial, ["u1", "u0", "zz"]),
            await state.messages(serial), await state.has_message(serial, "m0"),
            await state.get_message(serial, "m1")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=10, max_size=60))
def test_redis_behaves_like_memory(redis_url, ops):
    async def run() -> None:
        prefix = f"d{secrets.token_hex(4)}"
        mem = MemoryState(window=3)
        nodes = [RedisState(redis_url, prefix=prefix, window=3) for _ in range(2)]
        for n in nodes:
            await n.start()
        # every room has a listener on every node, as a room with members has (memory then
        # keeps the room's counters, as Redis does); what each listener saw must agree too
        heard: dict[tuple[int, str], list[Event]] = {}
        for serial in ("r", "r:2"):
            for i, st_ in enumerate((mem, *nodes)):
                await st_.subscribe(serial, heard.setdefault((i, serial), []).append)
        try:
            ms: dict[tuple[str, str], str] = {}
            rs: dict[tuple[str, str], str] = {}
            for i, op in enumerate(ops):
                want = view(await apply(mem, op, ms))
                got = view(await apply(nodes[i % 2], op, rs))
                assert got == want, (op, got, want)
            for serial in ("r", "r:2"):
                # a publish returns once its node delivered; the other node may lag a little
                await nodes[0].publish(serial, Event("end", {}, ALL))
                await nodes[1].publish(serial, Event("end", {}, ALL))
                await mem.publish(serial, Event("end", {}, ALL))
                await mem.publish(serial, Event("end", {}, ALL))
                deadline = time.monotonic() + 10
                while len(heard[(0, serial)]) != len(heard[(1, serial)]):
                    assert time.monotonic() < deadline, "a node missed events"
                    await asyncio.sleep(0.005)
                assert heard[(1, serial)] == heard[(0, serial)]
                assert heard[(2, serial)] == heard[(0, serial)]
        finally:
            for n in nodes:
                await n.stop()

    asyncio.run(run())


@pytest.fixture
async def two_nodes(redis_url):
    prefix = f"n{secrets.token_hex(4)}"
    nodes = [RedisState(redis_url, prefix=prefix, node=f"node{i}", grace=0.3, heartbeat=0.05)
             for i in range(2)]
    for n in nodes:
        await n.start()
    yield nodes
    for n in nodes:
        await n.stop()


async def test_limits_hold_under_concurrent_joins_on_two_nodes(two_nodes):
    a, b = two_nodes
    policy = JoinPolicy(maxusers=25, maxviewers=5)

    def m(uid: str, role: int) -> Any:
        return new_member(uid, role, uid, f"s-{uid}", {}, 0)

    joins = [(a if i % 2 else b).add_member("r", m(f"st{i}", 2), policy) for i in range(200)]
    joins += [(b if i % 2 else a).add_member("r", m(f"v{i}", 3), policy) for i in range(30)]
    joins += [(a if i % 2 else b).add_member("r", m(f"t{i}", 0), policy) for i in range(10)]
    out = await asyncio.gather(*joins)
    codes = [o.code for o in out]
    assert codes[:200].count(0) == 25 and codes[:200].count(64) == 175
    assert codes[200:230].count(0) == 5 and codes[200:230].count(5011) == 25
    assert codes[230:].count(0) == 1 and codes[230:].count(63) == 9
    assert await a.count_members("r") == await b.count_members("r") == 31
    # leaving frees exactly one place, taken by exactly one of many racing joiners
    gone = next(o.member for o in out[:200] if o.code == 0)
    await b.remove_member("r", gone.userid, "", False)
    again = await asyncio.gather(*[(a if i % 2 else b).add_member("r", m(f"x{i}", 2), policy)
                                   for i in range(40)])
    assert [o.code for o in again].count(0) == 1


async def test_events_reach_every_node_in_order(two_nodes):
    a, b = two_nodes
    got_a: list[Event] = []
    got_b: list[Event] = []
    await a.subscribe("r", got_a.append)
    await b.subscribe("r", got_b.append)
    await asyncio.gather(*[(a, b)[i % 2].publish("r", Event("x", {"i": i}, ALL))
                           for i in range(100)])
    deadline = time.monotonic() + 10
    while len(got_a) < 100 or len(got_b) < 100:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert [e.s for e in got_a] == [e.s for e in got_b] == list(range(1, 101))
    assert sorted(e.data["i"] for e in got_a) == list(range(100))


async def test_dead_node_sessions_are_detached_then_expired(redis_url):
    prefix = f"c{secrets.token_hex(4)}"
    dead = RedisState(redis_url, prefix=prefix, node="dead", heartbeat=0.05)
    alive = RedisState(redis_url, prefix=prefix, node="alive", grace=5.0, heartbeat=0.05)
    await dead.start()
    await alive.start()
    try:
        for uid in ("u", "v"):
            await dead.add_member("r", new_member(uid, 2, uid, f"S{uid}", {}, 0), JoinPolicy())
            await dead.open_session(Session(f"S{uid}", "tok", "r", uid))
        # the node crashes: no detach ever comes; its heartbeat stops
        for task in dead._tasks:
            task.cancel()
        now = time.time()
        assert await alive.expired_sessions(now) == []
        deadline = time.monotonic() + 10
        while await alive.redis.exists(f"{prefix}:hb:dead"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert await alive.expired_sessions(time.time()) == []     # detached, grace starts
        # one user comes back through the surviving node, the other never does
        back = await alive.attach_session("Su", "tok")
        assert back is not None and back.deadline is None
        assert await alive.expired_sessions(time.time() + 6) == ["Sv"]
        gone = await alive.expire_session("Sv", time.time() + 6)
        assert gone is not None and gone.userid == "v"
        assert await alive.expired_sessions(time.time() + 60) == []
    finally:
        await alive.stop()
        await dead.stop()


async def test_a_wrongly_reaped_node_reclaims_its_sessions(two_nodes):
    a, b = two_nodes
    await a.add_member("r", new_member("u", 2, "u", "S", {}, 0), JoinPolicy())
    await a.open_session(Session("S", "tok", "r", "u"))
    for task in a._tasks[-1:]:      # a long pause: only the heartbeat stops
        task.cancel()
    deadline = time.monotonic() + 10
    while "S" not in await b.redis.zrange(f"{b.g}detached", 0, -1):
        await b.expired_sessions(time.time())
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await a._beat()                 # the pause ends: a sees it was reaped and takes S back
    assert await b.expired_sessions(time.time() + 60) == []
    assert await b.attach_session("S", "tok") is not None


async def test_a_detach_from_a_node_the_session_left_is_ignored(two_nodes):
    a, b = two_nodes
    await a.add_member("r", new_member("u", 2, "u", "S", {}, 0), JoinPolicy())
    await a.open_session(Session("S", "tok", "r", "u"))
    assert await b.attach_session("S", "tok") is not None      # resumed on node b
    assert not await a.detach_session("S", time.time())        # node a's old socket drops late
    assert await b.expired_sessions(time.time() + 60) == []
    assert await b.detach_session("S", time.time())
    assert await a.expired_sessions(time.time() + 1) == ["S"]


async def test_events_lost_while_the_subscriber_reconnects_are_replayed(two_nodes):
    a, b = two_nodes
    got: list[Event] = []
    await a.subscribe("r", got.append)
    await b.publish("r", Event("x", {"i": 0}, ALL))
    deadline = time.monotonic() + 10
    while not got:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    for round_ in range(3):
        # cut node a's subscriber connection; events published meanwhile never reach it
        await b.redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        for i in range(5):
            await b.publish("r", Event("x", {"i": 1 + round_ * 5 + i}, ALL))
        await asyncio.sleep(0.3)
    await b.publish("r", Event("x", {"i": 16}, ALL))
    while len(got) < 17:
        assert time.monotonic() < deadline, [e.s for e in got]
        await asyncio.sleep(0.01)
    assert [e.data["i"] for e in got] == list(range(17))


async def test_an_emptied_room_is_forgotten_after_its_idle_time(redis_url):
    st = RedisState(redis_url, prefix=f"i{secrets.token_hex(4)}", idle_ttl=0.3)
    await st.start()
    try:
        await st.add_member("r", new_member("u", 2, "u", "S", {}, 0), JoinPolicy())
        await st.publish("r", Event("x", {}, ALL))
        await st.save_message("r", {"id": "A", "name": "A"})
        await st.remove_member("r", "u", "", True)          # keepstate: saved message stays
        assert await st.redis.pttl(st._room("r") + "s") == -1
        await st.delete_message("r", "A")
        await st.add_member("r", new_member("u", 2, "u", "S", {}, 0), JoinPolicy())
        await st.remove_member("r", "u", "", False)         # empty, nothing saved: idle
        assert 0 < await st.redis.pttl(st._room("r") + "s") <= 300
        await st.add_member("r", new_member("v", 2, "v", "T", {}, 0), JoinPolicy())
        assert await st.redis.pttl(st._room("r") + "s") == -1   # in use again: kept
        assert (await st.snapshot("r", False)).s == 1
        await st.remove_member("r", "v", "", False)
        deadline = time.monotonic() + 10
        while await st.redis.exists(st._room("r") + "s"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert (await st.snapshot("r", False)).s == 0
    finally:
        await st.stop()


async def test_the_cascade_indexes_leave_no_keys_behind(redis_url):
    st = RedisState(redis_url, prefix=f"x{secrets.token_hex(4)}")
    await st.start()
    try:
        for uid in ("a", "b"):
            await st.add_member("r", new_member(uid, 2, uid, f"S{uid}", {}, 0), JoinPolicy())
        await st.save_message("r", {"id": "P", "name": "P"})
        for i in range(5):
            await st.save_message("r", {"id": f"a{i}", "name": "n", "associatedUserID": "a",
                                        "associatedMsgID": "P"})
            await st.save_message("r", {"id": f"b{i}", "name": "n", "associatedUserID": "b",
                                        "associatedMsgID": f"a{i}"})
        await st.save_message("r", {"id": "o", "name": "o", "associatedMsgID": "nowhere"})

        async def index_keys() -> list[str]:
            return [k async for k in st.redis.scan_iter(match=st._room("r") + "*")
                    if k[len(st._room("r")):].startswith(("bu:", "ch:"))]

        assert len(await index_keys()) == 2 + 1 + 5 + 1    # bu:a bu:b ch:P ch:a0..4 ch:nowhere
        removed = await st.remove_member("r", "a", "", False)
        assert len(removed.removed) == 10                    # a's and, through them, b's
        assert sorted(await index_keys()) == [st._room("r") + "ch:nowhere"]
        await st.save_message("r", {"id": "b9", "name": "n", "associatedUserID": "b"})
        assert (await st.remove_member("r", "b", "", False)).empty
        assert await index_keys() == []
    finally:
        await st.stop()
async def _lose_everything(st: RedisState) -> None:
    """What a Redis without persistence has after a restart: none of the cluster's keys."""
    keys = [k async for k in st.redis.scan_iter(f"{st.g}*")]
    await st.redis.delete(*keys)


async def test_a_node_puts_back_the_members_redis_lost(two_nodes):
    a, b = two_nodes
    await a.subscribe("r", lambda e: None)
    u = new_member("u", 2, "u", "Su", {"candraw": True}, 5)
    await a.add_member("r", u, JoinPolicy())
    await a.open_session(Session("Su", "tok", "r", "u"))
    for i in range(5):
        await a.publish("r", Event("x", {"i": i}, ALL))
    await _lose_everything(a)
    assert await a.restore([(Session("Su", "tok", "r", "u"), u)], time.time()) == 1
    (back,) = await b.get_members("r")
    assert back.session == "Su" and back.properties["candraw"] is True
    assert (await b.snapshot("r", False)).s == 5          # never back below what a delivered
    after = await b.publish("r", Event("y", {}, ALL))
    assert after.s == 6
    assert await b.replay("r", 2) is None                 # those events are gone: join again
    assert [e.s for e in await b.replay("r", 5)] == [6]
    assert await b.attach_session("Su", "tok") is not None  # the session resumes anywhere


async def test_a_restore_brings_back_changes_redis_lost_with_its_last_writes(two_nodes):
    a, b = two_nodes
    u = new_member("u", 2, "u", "Su", {}, 5)
    await a.add_member("r", u, JoinPolicy())
    await a.open_session(Session("Su", "tok", "r", "u"))
    await b.update_properties("r", "u", {"candraw": True})
    u.merge({"candraw": True})            # node a learnt it from the setProperty event
    # Redis comes back from its AOF without that last write
    await b.redis.hset(b._room("r") + "p:u", "candraw", "false")
    assert await a.restore([(Session("Su", "tok", "r", "u"), u)], time.time()) == 1
    assert (await b.get_members("r", ["u"]))[0].properties["candraw"] is True


async def test_a_restore_keeps_a_newer_session_and_releases_sockets_gone(two_nodes):
    a, b = two_nodes
    for uid in ("u", "v"):
        await a.add_member("r", new_member(uid, 2, uid, f"S{uid}", {}, 5), JoinPolicy())
        await a.open_session(Session(f"S{uid}", "tok", "r", uid))
    old_u = (await a.get_members("r", ["u"]))[0]
    await _lose_everything(a)
    # while Redis was away: v's socket dropped (its detach failed); u joined again on node b
    await b.add_member("r", new_member("u", 2, "u", "Su2", {}, 9), JoinPolicy())
    await b.open_session(Session("Su2", "tok2", "r", "u"))
    await a.add_member("r", new_member("v", 2, "v", "Sv", {}, 5), JoinPolicy())
    await a.open_session(Session("Sv", "tok", "r", "v"))
    a._mine.discard("Sv")
    assert await a.restore([(Session("Su", "tok", "r", "u"), old_u)], time.time()) == 0
    assert (await b.get_members("r", ["u"]))[0].session == "Su2"
    assert await b.expired_sessions(time.time() + 60) == ["Sv"]  # v gets its grace period


async def test_a_restart_runs_the_restore_once(two_nodes):
    a, _ = two_nodes
    calls: list[int] = []

    async def hook() -> None:
        calls.append(1)
        await asyncio.sleep(0.05)

    for task in a._tasks[-1:]:      # no heartbeat: only these calls look
        task.cancel()
    a.on_restart(hook)
    assert await a.check_restart() is False
    a._run_id = "a Redis that is gone"
    assert await asyncio.gather(a.check_restart(), a.check_restart()) == [True, True]
    assert calls == [1]
    assert await a.check_restart() is False


# ---- stream claims ---------------------------------------------------------------------------

async def test_stream_claims_on_two_nodes_hold_the_limit_together(two_nodes):
    a, b = two_nodes
    out = await asyncio.gather(*(n.claim_stream("r", f"u{i}{n.node}:video:default", f"u{i}",
                                                True, False, 3, 0)
                                 for i in range(10) for n in (a, b)))
    assert out.count(None) == 3
    claims = await a.stream_claims("r")
    assert len(claims) == 3 and {c.node for c in claims.values()} <= {"node0", "node1"}
    # a node never releases another's claim
    theirs = next(sid for sid, c in claims.items() if c.node == "node1")
    assert not await a.release_stream("r", theirs)
    assert await b.release_stream("r", theirs)


async def test_a_member_who_moved_takes_over_the_claim_of_their_stream(two_nodes):
    """The teacher's node is killed and her session resumes on the other node: her stream's
    claim, still held by the dead node until the sweep, does not refuse her publishing again
    there (2601); another user's stream, or a node putting back its claims, never takes one."""
    a, b = two_nodes
    assert await a.claim_stream("r", "t:video:default", "t", True, False, 1, 0) is None
    assert await b.claim_stream("r", "t:video:default", "intruder", True, False, 5, 0) == "taken"
    assert await a.claim_stream("r", "t:video:default", "t", True, False, 5, 0) == "taken"
    assert await b.claim_stream("r", "t:video:default", "t", True, False, 1, 0) is None
    claims = await b.stream_claims("r")
    assert list(claims) == ["t:video:default"] and claims["t:video:default"].node == "node1"
    assert not await a.release_stream("r", "t:video:default")   # the old node's late release
    await a._reclaim_streams()                                   # or its pause ending
    assert (await b.stream_claims("r"))["t:video:default"].node == "node1"
    assert not await a.redis.hexists(f"{a.g}sn:node0", a._room("r"))
    assert await b.claim_stream("r", "u:video:default", "u", True, False, 1, 0) == "video"
    assert await b.release_stream("r", "t:video:default")
    assert await b.stream_claims("r") == {}


async def test_a_dead_nodes_claims_go_in_the_sweep_of_its_sessions(redis_url):
    prefix = f"c{secrets.token_hex(4)}"
    dead = RedisState(redis_url, prefix=prefix, node="dead", heartbeat=0.05)
    alive = RedisState(redis_url, prefix=prefix, node="alive", grace=5.0, heartbeat=0.05)
    await dead.start()
    await alive.start()
    try:
        assert await dead.claim_stream("r", "s:video:default", "s", True, False, 1, 0) is None
        assert await dead.claim_stream("r2", "s:audio:default", "s", False, True, -1, 1) is None
        assert await alive.claim_stream("r2", "t:video:default", "t", True, False, 1, 0) is None
        assert await alive.claim_stream("r", "t:video:default", "t", True, False, 1, 0) == \
            "video"
        for task in dead._tasks:     # the node crashes: its heartbeat stops
            task.cancel()
        await alive.expired_sessions(time.time())
        assert "s:video:default" in await alive.stream_claims("r")  # still alive then
        deadline = time.monotonic() + 10
        while await alive.redis.exists(f"{prefix}:hb:dead"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await alive.expired_sessions(time.time())
        assert await alive.stream_claims("r") == {}
        assert set(await alive.stream_claims("r2")) == {"t:video:default"}
        assert await alive.claim_stream("r", "t:video:default", "t", True, False, 1, 0) is None
        assert not await alive.redis.exists(f"{prefix}:sn:dead")
        assert not await alive.redis.sismember(f"{prefix}:snodes", "dead")
    finally:
        await alive.stop()
        await dead.stop()


async def test_a_wrongly_reaped_node_puts_back_its_claims(two_nodes):
    a, b = two_nodes
    assert await a.claim_stream("r", "u:video:default", "u", True, False, 1, 0) is None
    for task in a._tasks[-1:]:      # a long pause: only the heartbeat stops
        task.cancel()
    deadline = time.monotonic() + 10
    while await b.stream_claims("r"):
        await b.expired_sessions(time.time())
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await a._beat()                 # the pause ends: the stream it still brokers counts again
    assert set(await b.stream_claims("r")) == {"u:video:default"}
    assert await b.claim_stream("r", "v:video:default", "v", True, False, 1, 0) == "video"
    assert await a.release_stream("r", "u:video:default")
    assert await b.claim_stream("r", "v:video:default", "v", True, False, 1, 0) is None


async def test_a_node_puts_back_its_claims_redis_lost(two_nodes):
    a, b = two_nodes
    assert await a.claim_stream("r", "u:video:default", "u", True, False, 1, 0) is None
    await _lose_everything(a)
    assert await b.claim_stream("r", "v:video:default", "v", True, False, 1, 0) is None
    await b.release_stream("r", "v:video:default")
    await a.restore([], time.time())
    assert await b.claim_stream("r", "v:video:default", "v", True, False, 1, 0) == "video"
