"""A class survives a failover of its Redis primary under Redis Sentinel.

A primary, a replica and three sentinels run as real processes on 127.0.0.1
(``redis_sentinel_proc``); two signalling nodes in this process reach Redis through
``redis+sentinel://`` with ``wait_replicas=1``. A teacher and a student on node A, a student
on node B. While the teacher keeps saving messages and chatting, the primary
is replaced: by ``SENTINEL FAILOVER`` (the old primary is demoted) or by SIGKILL (a crash; the
killed process is started again as the new replica: until then no save can be acknowledged).
Afterwards: every saved message whose request was acknowledged is still there for a newcomer,
every acknowledged chat reached the chat log, nobody left the class, and events flow between
the nodes again. The shared password throttle and cache (``tkroom.webapi.shared``) write to the
new primary after a failover too. How long the pause lasts is measured in ``bench/redis_sentinel.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

import pytest
import redis.asyncio as aioredis

from client_helpers import Watched, join
from conftest import need_binary
from redis_sentinel_proc import SentinelSet
from signal_helpers import SECRET, MemoryDirectory
from tkroom.client import ClientError
from tkroom.directory import RoomInfo
from tkroom.signal.server import SignalServer
from tkroom.state import open_state
from tkroom.webapi.shared import PREFIX, Shared

pytestmark = pytest.mark.redis

SERIAL = "sentinel-room"
SLOW = {"request_timeout": 30.0}


async def _keep_sending(t: Watched, stop: asyncio.Event, going: asyncio.Event,
                        saved: list[str], chats: list[str], failed: list[str]) -> None:
    """Save messages and chat (the teacher: no chat gap) one after another until ``stop``;
    keep what was acknowledged."""
    i = 0
    while not stop.is_set() and i < 400:
        i += 1
        try:
            await t.room.pubMsg(name="note", id=f"n{i}", save=True, data={"i": i})
            saved.append(f"n{i}")
            if len(saved) >= 5:
                going.set()
        except ClientError as exc:
            failed.append(f"n{i}: {exc.code}")
        try:
            await t.room.sendMessage(f"c{i}")
            chats.append(f"c{i}")
        except ClientError as exc:
            failed.append(f"c{i}: {exc.code}")
        await asyncio.sleep(0.05)


async def _class_through_failover(redis: SentinelSet, crash: bool) -> None:
    directory = MemoryDirectory(rooms={SERIAL: RoomInfo(SERIAL, 1, maxusers=50)})
    prefix = f"sn{secrets.token_hex(3)}"
    servers: list[SignalServer] = []
    for _ in range(2):
        state = open_state(redis.url, prefix=prefix, grace=30.0, heartbeat=0.2,
                           wait_replicas=1)
        await state.start()
        server = SignalServer("127.0.0.1", 0, directory, state, SECRET, grace=30.0,
                              sweep_interval=0.1)
        await server.start()
        servers.append(server)
    a, b = servers
    people: list[Watched] = []
    try:
        t = await join(a.url, SERIAL, "t1", 0, **SLOW)
        s1 = await join(b.url, SERIAL, "s1", 2, backoff_initial=0.05, **SLOW)
        s2 = await join(a.url, SERIAL, "s2", 2, backoff_initial=0.05, **SLOW)
        people += [t, s1, s2]
        await t.room.pubMsg(name="ClassBegin", id="ClassBegin", save=True, data={"at": 1})
        await t.room.changeUserProperty("s1", "__all", {"candraw": True})
        await s2.wait("room-userproperty-changed", lambda e: e["user"]["id"] == "s1")

        saved: list[str] = []
        chats: list[str] = []
        failed: list[str] = []
        stop = asyncio.Event()
        going = asyncio.Event()
        sender = asyncio.create_task(_keep_sending(t, stop, going, saved, chats, failed))
        await asyncio.wait_for(going.wait(), 60)
        before = len(saved)
        old = await asyncio.to_thread(redis.kill_primary if crash else redis.failover)
        new = await asyncio.to_thread(redis.wait_promoted, old)
        assert new != old
        if crash:   # the crashed primary comes back (systemd) and is the replica now
            redis.restart_as_replica(old, new)
        # the class goes on: acknowledged saves after the failover
        deadline = time.monotonic() + 60
        while len(saved) < before + 10:
            assert time.monotonic() < deadline, f"no saves acknowledged after: {failed}"
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(sender, 60)
        print(f"\n{'kill -9' if crash else 'SENTINEL FAILOVER'}: {len(saved)} saves and "
              f"{len(chats)} chats acknowledged, {len(failed)} requests failed: {failed}")

        # every acknowledged saved message is on the new primary: a newcomer gets it
        n1 = await join(b.url, SERIAL, "n1", 2, **SLOW)
        people.append(n1)
        have = {m["id"] for m in n1.room.getMsgList()}
        assert "ClassBegin" in have
        assert set(saved) <= have, f"acknowledged but lost: {sorted(set(saved) - have)}"
        # every acknowledged chat reached the chat log
        logged = {m["msg"] if "msg" in m else m.get("message") for _, m in directory.chats}
        assert set(chats) <= logged, f"chats lost: {sorted(set(chats) - logged)}"

        # members stay in the class, with their properties, and events flow between nodes
        users, total = await t.room.getRoomUsers()
        assert total == 4, [u["id"] for u in users]
        props = {u["id"]: u["properties"] for u in users}
        assert props["s1"]["candraw"] is True
        await s1.room.sendMessage("after the failover")
        await t.wait("room-text-message", lambda e: e["message"] == "after the failover", 30)
        await s2.wait("room-text-message", lambda e: e["message"] == "after the failover", 30)
        await t.room.pubMsg(name="page", id="page", toID="__all", data={"n": 2})
        for w in (s1, s2, n1):
            await w.wait("room-pubmsg", lambda e: e["id"] == "page", 30)
        for w in people:
            assert not w.named("room-participant_leave"), "nobody left the class"
            assert not w.named("room-leaveroom")
    finally:
        for w in people:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(w.room.leaveroom(), 15)
        for server in servers:
            await server.stop()
            await server.state.stop()


@pytest.mark.parametrize("crash", [False, True], ids=["sentinel-failover", "kill-9"])
def test_class_survives_sentinel_failover(crash: bool) -> None:
    redis = SentinelSet(need_binary("redis-server"), need_binary("redis-sentinel"))
    redis.start()
    try:
        asyncio.run(_class_through_failover(redis, crash))
    finally:
        redis.stop()


async def _shared_follows(redis: SentinelSet) -> None:
    shared = Shared(redis.url)
    try:
        await shared.vouch(b"before", 1)
        assert await shared.known(b"before") == 1
        old = await asyncio.to_thread(redis.failover)
        new = await asyncio.to_thread(redis.wait_promoted, old)
        direct = aioredis.Redis(port=new)
        deadline = time.monotonic() + 60
        # the throttle and cache write to the new primary again (after their fallback pause)
        while await direct.get(PREFIX + "ok:" + b"after".hex()) != b"2":
            assert time.monotonic() < deadline, "the shared cache never reached the new primary"
            await shared.vouch(b"after", 2)
            await asyncio.sleep(0.2)
        assert await shared.known(b"after") == 2
        await direct.aclose()
    finally:
        await shared.close()


def test_shared_throttle_and_cache_follow_the_primary() -> None:
    redis = SentinelSet(need_binary("redis-server"), need_binary("redis-sentinel"))
    redis.start()
    try:
        asyncio.run(_shared_follows(redis))
    finally:
        redis.stop()
