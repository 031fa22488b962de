"""A class survives its Redis being killed (SIGKILL) and started again.

Two signalling nodes in this process share a private ``redis-server``; a teacher and two
students, driven by the Python SDK, are spread over both. Redis is killed with SIGKILL and
started again on the same directory, with AOF (``appendonly yes``) or without any persistence.
Afterwards the sockets that stayed open work again, with the members and their properties as
before, events flow between the nodes, a dropped socket resumes its session, newcomers join,
and with AOF the saved messages are still there for them. How long recovery takes is measured
in ``bench/redis_restart.py``; here it is only printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any

import pytest

from client_helpers import Watched, join
from redis_proc import RedisProc
from signal_helpers import SECRET, MemoryDirectory
from tkroom.client import ClientError
from tkroom.directory import RoomInfo
from tkroom.signal.server import SignalServer
from tkroom.state import open_state

pytestmark = pytest.mark.redis

SERIAL = "restart-room"


async def _until_ok(w: Watched, wait: float = 60.0) -> float:
    """Seconds until a request of this member succeeds again (the room counts its users)."""
    t0 = time.monotonic()
    while True:
        try:
            await w.room.getRoomUserNum()
            return time.monotonic() - t0
        except ClientError as exc:
            assert time.monotonic() - t0 < wait, f"still failing: {exc.code} {exc.message}"
            await asyncio.sleep(0.05)


async def _class_through_restart(redis: RedisProc, persist: bool) -> None:
    directory = MemoryDirectory(rooms={SERIAL: RoomInfo(SERIAL, 1, maxusers=50)})
    prefix = f"rr{secrets.token_hex(3)}"
    servers: list[SignalServer] = []
    for _ in range(2):
        state = open_state(redis.url, prefix=prefix, grace=30.0, heartbeat=0.2)
        await state.start()
        server = SignalServer("127.0.0.1", 0, directory, state, SECRET, grace=30.0,
                              sweep_interval=0.1)
        await server.start()
        servers.append(server)
    a, b = servers
    people: list[Watched] = []
    try:
        slow = {"request_timeout": 30.0}     # a busy machine must not turn into 2510s
        t = await join(a.url, SERIAL, "t1", 0, **slow)
        s1 = await join(b.url, SERIAL, "s1", 2, backoff_initial=0.05, **slow)
        s2 = await join(a.url, SERIAL, "s2", 2, backoff_initial=0.05, **slow)
        people += [t, s1, s2]
        await t.room.pubMsg(name="ClassBegin", id="ClassBegin", save=True, data={"at": 1})
        await t.room.changeUserProperty("s1", "__all", {"candraw": True})
        await t.room.changeUserPublish("s2", 3)
        await s1.wait("room-userproperty-changed", lambda e: e["user"]["id"] == "s2")

        if persist:     # what AOF promises: a write that reached the file survives a crash
            await asyncio.to_thread(redis.wait_in_aof, b"ClassBegin")
        redis.kill()
        redis.start()
        up = time.monotonic()

        # (a) the open sockets work again, with the class as it was
        back = await asyncio.gather(*(_until_ok(w) for w in people))
        print(f"\n{'AOF' if persist else 'no persistence'}: members back "
              f"{max(back):.2f} s after Redis ({time.monotonic() - up:.2f} s now)")
        users, total = await t.room.getRoomUsers()
        assert total == 3
        props = {u["id"]: u["properties"] for u in users}
        assert props["s1"]["candraw"] is True and props["s2"]["publishstate"] == 3
        assert await s1.room.getRoomUserNum() == 3

        await s1.room.sendMessage("after the restart")
        await t.wait("room-text-message", lambda e: e["message"] == "after the restart", 30)
        await t.room.pubMsg(name="page", id="page", toID="__all", data={"n": 2})
        for w in (s1, s2):
            await w.wait("room-pubmsg", lambda e: e["id"] == "page", 30)

        # a socket that drops now resumes its session (nobody sees it leave)
        s2.room.drop_connection()
        resumed = await s2.wait("room-reconnected", wait=30)
        assert resumed["resumed"] is True
        await s2.room.sendMessage("resumed")
        await s1.wait("room-text-message", lambda e: e["message"] == "resumed", 30)

        # (b) newcomers join, on either node, and everyone learns of them
        n1 = await join(b.url, SERIAL, "n1", 2, **slow)
        people.append(n1)
        await t.wait("room-participant_join", lambda e: e["user"]["id"] == "n1", 30)
        assert {u["id"] for u in (await n1.room.getRoomUsers())[0]} == {"t1", "s1", "s2", "n1"}

        # (c) with AOF the saved messages survive; (d) without, the class goes on without them
        saved = [m["id"] for m in n1.room.getMsgList()]
        if persist:
            assert saved == ["ClassBegin"]

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


@pytest.mark.parametrize("persist", [True, False], ids=["aof", "none"])
def test_class_survives_redis_restart(tmp_path: Any, persist: bool) -> None:
    redis = RedisProc(appendonly=persist)
    redis.start()
    try:
        asyncio.run(_class_through_restart(redis, persist))
    finally:
        redis.stop()
