"""Two signalling servers sharing one room state behave as one room: in one process over
memory, and as two nodes over a real Redis (each with its own connection and subscriber)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from signal_helpers import SECRET, Client, MemoryDirectory, no_server_errors, ticket  # noqa: F401
from tkroom.directory import RoomInfo
from tkroom.signal.server import SignalServer
from tkroom.state import open_state
from tkroom.state.memory import MemoryState


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_two_nodes_one_room_and_moving_by_resume(backend, request):
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room", maxusers=1)})
    if backend == "memory":
        shared = MemoryState()
        states = [shared, shared]
    else:
        url, prefix = request.getfixturevalue("redis_url"), f"t{secrets.token_hex(4)}"
        states = [open_state(url, prefix=prefix, grace=5.0) for _ in range(2)]
    for st in states:
        await st.start()
    a = SignalServer("127.0.0.1", 0, d, states[0], SECRET, grace=5.0, sweep_interval=0.05)
    b = SignalServer("127.0.0.1", 0, d, states[1], SECRET, grace=5.0, sweep_interval=0.05)
    await a.start()
    await b.start()
    clients = []
    try:
        t = await Client.connect(a.url)
        s = await Client.connect(b.url)
        x = await Client.connect(a.url)
        clients += [t, s, x]
        await t.join(ticket("r", "t", 0))
        await s.join(ticket("r", "s"))
        assert (await x.req("joinRoom", {"ticket": ticket("r", "s2")}))["code"] == 64
        await t.event("participantJoined", id="s")
        await s.ok("sendMessage", {"message": "from b"})
        await t.event("sendMessage", message="from b")
        await t.ok("setProperty", {"id": "s", "properties": {"candraw": True}})
        await s.event("setProperty", id="s", properties={"candraw": True})
        # node b stops: its users are told to reconnect and resume on node a
        await b.stop()
        await s.event("forceReconnect")
        await asyncio.wait_for(s.closed.wait(), 5)
        await t.ok("pubMsg", {"name": "while-away", "toID": "__all"})
        r = await Client.connect(a.url)
        clients.append(r)
        r.last_s = s.last_s
        await r.ok("resume", {"session": s.session["id"], "token": s.session["token"],
                              "last": s.last_s})
        await r.event("pubMsg", name="while-away")
        assert not t.named("participantLeft")
        assert (await r.ok("getUser", {"ids": ["s"]}))["users"][0]["properties"]["candraw"]
    finally:
        for c in clients:
            await c.close()
        await a.stop()
        await b.stop()
        for st in states:
            await st.stop()
