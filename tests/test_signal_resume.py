"""Dropped connections: grace period, resume with missed events in order, slow consumers."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from signal_helpers import (  # noqa: F401
    Client,
    MemoryDirectory,
    no_server_errors,
    start_server,
    stop_server,
    ticket,
)
from tkroom.directory import RoomInfo


@pytest.fixture(params=["memory", "redis"])
async def env(request):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room")})
    server = await start_server(d, state_url=url, grace=0.8, sweep_interval=0.05, window=64,
                                out_limit=256 * 1024)
    clients: list[Client] = []

    async def member(uid: str, role: int = 2) -> Client:
        c = await Client.connect(server.url)
        clients.append(c)
        await c.join(ticket("r", uid, role))
        return c

    async def connect() -> Client:
        c = await Client.connect(server.url)
        clients.append(c)
        return c

    yield server, member, connect
    for c in clients:
        await c.close()
    await stop_server(server)


async def poll(pred, wait: float = 10.0) -> None:
    deadline = time.monotonic() + wait
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def drop(c: Client) -> None:
    """Cut the TCP connection without a closing handshake, as a network failure would."""
    c.ws.transport.abort()


async def test_resume_delivers_missed_events_in_order(env):
    server, member, connect = env
    t = await member("t", 0)
    w = await member("w")
    s = await member("s")
    await s.ok("sendMessage", {"message": "before"})
    await t.event("sendMessage", message="before")
    await t.ok("pubMsg", {"name": "seen", "toID": "__all"})
    await s.event("pubMsg", name="seen")
    last = s.last_s
    drop(s)
    await asyncio.wait_for(s.closed.wait(), 5)
    await poll(lambda: "s" not in {c.userid for c in server.rooms["r"].conns.values()})
    sent = []
    for n in range(5):
        await t.ok("pubMsg", {"name": "m", "id": f"m{n}", "toID": "__all", "data": {"n": n}})
        sent.append(f"m{n}")
    await t.ok("pubMsg", {"name": "only-w", "toID": "w"})
    await t.ok("pubMsg", {"name": "only-s", "id": "os", "toID": "s"})
    sent.append("os")
    await t.ok("setProperty", {"id": "w", "properties": {"raisehand": True}})
    r = await connect()
    r.last_s = last
    ack = await r.ok("resume", {"session": s.session["id"], "token": s.session["token"],
                                "last": last})
    assert ack["s"] >= last
    await r.event("setProperty", id="w")
    got = [e["data"]["id"] for e in r.named("pubMsg")]
    assert got == sent                      # in order, nothing twice, nothing for others
    assert not r.named("participantJoined") and not r.named("participantLeft")
    assert not [e for e in r.events if e["data"].get("message") == "before"]
    # nobody saw the user leave or come back
    await r.ok("setProperty", {"id": "s", "properties": {"raisehand": True}})
    await w.event("setProperty", id="s")
    for c in (t, w):
        assert not [e for e in c.events if e["ev"] in ("participantLeft", "participantJoined")
                    and e["data"]["id"] == "s" and e["s"] > last]
    # live events flow to the resumed socket
    await t.ok("pubMsg", {"name": "live", "toID": "__all"})
    await r.event("pubMsg", name="live")


async def test_grace_expiry_and_bad_resumes(env):
    server, member, connect = env
    t = await member("t", 0)
    x = await member("x")
    await x.ok("pubMsg", {"name": "hand", "toID": "__allSuperUsers", "save": True,
                          "associatedUserID": "x"})
    sess = x.session
    r = await connect()
    assert (await r.req("resume", {"session": sess["id"], "token": "wrong", "last": 0}))[
        "code"] == 102
    assert (await r.req("resume", {"session": sess["id"]}))["code"] == 103
    drop(x)
    left = await t.event("participantLeft", id="x", wait=10)
    gone = await t.event("delMsg", id="hand")
    assert gone["s"] > left["s"]
    assert (await r.req("resume", {"session": sess["id"], "token": sess["token"],
                                   "last": x.last_s}))["code"] == 102
    assert (await t.ok("getRoomUserNum"))["num"] == 1


async def test_resume_beyond_the_window_must_rejoin(env):
    server, member, connect = env
    t = await member("t", 0)
    s = await member("s")
    drop(s)
    await poll(lambda: "s" not in {c.userid for c in server.rooms["r"].conns.values()})
    for n in range(70):                    # the window holds 64 events
        await t.ok("pubMsg", {"name": "m", "id": f"m{n}", "toID": "__allExceptSender"})
    r = await connect()
    ack = await r.req("resume", {"session": s.session["id"], "token": s.session["token"],
                                 "last": s.last_s})
    assert ack["code"] == 102
    await r.join(ticket("r", "s"))


async def test_resume_while_the_old_socket_still_looks_open(env):
    server, member, connect = env
    t = await member("t", 0)
    s = await member("s")
    r = await connect()
    r.last_s = s.last_s
    await r.ok("resume", {"session": s.session["id"], "token": s.session["token"],
                          "last": s.last_s})
    await asyncio.wait_for(s.closed.wait(), 5)        # the old socket is closed for good
    await t.ok("pubMsg", {"name": "one", "toID": "__all"})
    await r.event("pubMsg", name="one")
    assert not s.named("pubMsg")
    assert not t.named("participantLeft")


async def test_slow_consumer_is_dropped_and_resumes(env):
    server, member, connect = env
    t = await member("t", 0)
    slow = await websockets.connect(server.url, max_queue=1, compression=None)
    await slow.send(json.dumps({"id": 1, "ev": "joinRoom", "data": {"ticket": ticket("r", "s")}}))
    joined = json.loads(await slow.recv())["data"]
    blob = "z" * 20000
    n = 0
    t0 = time.monotonic()
    while "s" in {c.userid for c in server.rooms["r"].conns.values()}:
        assert n < 2000 and time.monotonic() - t0 < 20, "the slow socket was never dropped"
        await t.ok("pubMsg", {"name": "bulk", "id": f"b{n}", "toID": "__allExceptSender",
                              "data": blob})
        n += 1
    # the teacher (a fast reader) was never held back and is still connected
    assert (await t.ok("getRoomUserNum"))["num"] == 2
    got, last = [], joined["s"]
    try:
        async for raw in slow:
            frame = json.loads(raw)
            got.append(frame["data"]["id"])
            last = frame["s"]
    except websockets.ConnectionClosed:
        pass
    assert len(got) < n
    r = await connect()
    r.last_s = last
    await r.ok("resume", {"session": joined["session"]["id"],
                          "token": joined["session"]["token"], "last": last})
    await r.event("pubMsg", id=f"b{n - 1}", wait=20)
    assert got + [e["data"]["id"] for e in r.named("pubMsg")] == [f"b{i}" for i in range(n)]
