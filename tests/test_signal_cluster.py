"""Signalling nodes sharing one real Redis behave as one room: the cluster of issue 3.

Two nodes in this process (each with its own ``RedisState``, connections and subscriber), and
a node in a subprocess that is killed with SIGKILL to show a crash: its users resume on the
surviving node, the room keeps its state, and a user who never comes back is removed by the
survivor once the grace period has passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from signal_helpers import SECRET, Client, MemoryDirectory, no_server_errors, ticket  # noqa: F401
from tkroom.directory import RoomInfo
from tkroom.signal.server import SignalServer
from tkroom.state import open_state

pytestmark = pytest.mark.redis

HERE = Path(__file__).parent


async def poll(pred: Any, wait: float = 10.0) -> None:
    deadline = time.monotonic() + wait
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.fixture
async def cluster(redis_url):
    """Start nodes on one Redis prefix; everything is stopped at the end."""
    prefix = f"k{secrets.token_hex(4)}"
    servers: list[SignalServer] = []
    states: list[Any] = []
    clients: list[Client] = []

    async def node(directory: MemoryDirectory, grace: float = 5.0) -> SignalServer:
        state = open_state(redis_url, prefix=prefix, grace=grace, heartbeat=0.1)
        await state.start()
        server = SignalServer("127.0.0.1", 0, directory, state, SECRET, grace=grace,
                              sweep_interval=0.05)
        await server.start()
        states.append(state)
        servers.append(server)
        return server

    async def connect(server_or_url: SignalServer | str) -> Client:
        url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
        c = await Client.connect(url)
        clients.append(c)
        return c

    yield node, connect, prefix
    for c in clients:
        await c.close()
    for s in servers:
        await s.stop()
    for st in states:
        await st.stop()


async def resume(connect: Any, where: SignalServer | str, old: Client) -> Client:
    c = await connect(where)
    c.last_s = old.last_s
    await c.ok("resume", {"session": old.session["id"], "token": old.session["token"],
                          "last": old.last_s})
    c.session = old.session
    return c


async def test_users_on_two_nodes_share_one_room(cluster):
    node, connect, _ = cluster
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room", maxusers=2)})
    a, b = await node(d), await node(d)
    t = await connect(a)
    s1 = await connect(b)
    s2 = await connect(a)
    over = await connect(b)
    await t.join(ticket("r", "t", 0))
    await s1.join(ticket("r", "s1"))
    joined = await s2.join(ticket("r", "s2"))
    assert {u["id"] for u in joined["userlist"]} == {"t", "s1", "s2"}
    assert (await over.req("joinRoom", {"ticket": ticket("r", "s3")}))["code"] == 64
    await t.event("participantJoined", id="s1")
    await s1.event("participantJoined", id="s2")
    # chat across nodes, both ways
    await s1.ok("sendMessage", {"message": "hello from b"})
    await t.event("sendMessage", message="hello from b")
    await s2.event("sendMessage", message="hello from b")
    await t.ok("sendMessage", {"message": "hello from a", "toID": "s1"})
    await s1.event("sendMessage", message="hello from a")
    # properties set on one node are seen on the other, and in the shared state
    await t.ok("setProperty", {"id": "s1", "properties": {"candraw": True}})
    await s1.event("setProperty", id="s1", properties={"candraw": True})
    await s2.event("setProperty", id="s1")
    await s1.ok("setProperty", {"id": "s1", "properties": {"raisehand": True}})
    await t.event("setProperty", id="s1", properties={"raisehand": True})
    got = (await s2.ok("getUser", {"ids": ["s1"]}))["users"][0]["properties"]
    assert got["candraw"] is True and got["raisehand"] is True
    # saved messages are shared and ordered by seq; the chat gate holds across nodes
    await t.ok("pubMsg", {"name": "ClassBegin", "id": "ClassBegin", "toID": "__all",
                          "save": True})
    await t.ok("pubMsg", {"name": "page", "id": "page", "toID": "__all", "save": True,
                          "data": {"n": 1}})
    await t.ok("pubMsg", {"name": "page", "id": "page", "toID": "__all", "save": True,
                          "data": {"n": 2}})
    await s1.event("pubMsg", name="page", data={"n": 2})
    assert (await s1.req("sendMessage", {"message": "too fast"}))["code"] == 62
    late = await connect(b)
    tk = ticket("r", "late", 1)
    joined = await late.join(tk)
    assert [(m["id"], m.get("data")) for m in joined["msglist"]] == \
        [("ClassBegin", {}), ("page", {"n": 2})]
    # every event arrives once, in s order, at every member (Client asserts s increases)
    for c in (t, s1, s2):
        assert len(c.named("pubMsg")) == 3


async def test_stopping_a_node_moves_its_users_by_resume(cluster):
    node, connect, _ = cluster
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room")})
    a, b = await node(d), await node(d)
    t = await connect(a)
    s = await connect(b)
    await t.join(ticket("r", "t", 0))
    await s.join(ticket("r", "s"))
    await t.ok("setProperty", {"id": "s", "properties": {"candraw": True}})
    await s.event("setProperty", id="s")
    await t.ok("pubMsg", {"name": "kept", "id": "kept", "toID": "__all", "save": True})
    await s.event("pubMsg", name="kept")
    await b.stop()
    await s.event("forceReconnect")
    await asyncio.wait_for(s.closed.wait(), 10)
    await t.ok("pubMsg", {"name": "while-away", "toID": "__all"})
    await t.ok("sendMessage", {"message": "are you there?"})
    r = await resume(connect, a, s)
    await r.event("pubMsg", name="while-away")
    await r.event("sendMessage", message="are you there?")
    await r.ok("sendMessage", {"message": "back"})
    await t.event("sendMessage", message="back")
    assert not t.named("participantLeft")
    me = (await r.ok("getUser", {"ids": ["s"]}))["users"][0]
    assert me["properties"]["candraw"] is True
    assert [m["id"] for m in (await (await connect(a)).join(ticket("r", "x")))["msglist"]] \
        == ["kept"]


class NodeProcess:
    """A node in its own process (``cluster_node.py``), to be killed like a crash."""

    def __init__(self, redis_url: str, prefix: str, rooms: list[dict[str, Any]],
                 grace: float) -> None:
        env = {**os.environ, "PYTHONPATH": f"{HERE.parent / 'src'}{os.pathsep}{HERE}"}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "cluster_node.py"), redis_url, prefix,
             json.dumps(rooms), str(grace)],
            stdout=subprocess.PIPE, env=env, text=True)

    async def url(self) -> str:
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 30)
        assert line.startswith("PORT "), line
        return f"ws://127.0.0.1:{int(line.split()[1])}/"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc.stdout.close()


async def test_a_crashed_node_its_users_resume_elsewhere_or_are_removed(cluster):
    node, connect, prefix = cluster
    grace = 1.5
    room = {"serial": "r", "companyid": 1, "roomname": "Room"}
    d = MemoryDirectory(rooms={"r": RoomInfo(**room)})
    a = await node(d, grace=grace)
    crashing = NodeProcess(a.state.url, prefix, [room], grace)
    try:
        url = await crashing.url()
        t = await connect(a)
        s = await connect(url)
        gone = await connect(url)
        await t.join(ticket("r", "t", 0))
        await s.join(ticket("r", "s"))
        await gone.join(ticket("r", "gone"))
        await gone.ok("pubMsg", {"name": "hand", "id": "hand", "toID": "t", "save": True,
                                 "associatedUserID": "gone"})
        await t.ok("setProperty", {"id": "s", "properties": {"candraw": True}})
        await s.event("setProperty", id="s")
        await t.event("pubMsg", name="hand")
        killed_ms = int(time.time() * 1000)
        crashing.kill()
        await asyncio.wait_for(s.closed.wait(), 10)
        await t.ok("pubMsg", {"name": "during-crash", "toID": "__all"})
        r = await resume(connect, a, s)
        await r.event("pubMsg", name="during-crash")
        assert (await r.ok("getUser", {"ids": ["s"]}))["users"][0]["properties"]["candraw"]
        # the user who never comes back leaves once the grace period has passed
        left = await t.event("participantLeft", wait=20, id="gone")
        seen_ms = int(time.time() * 1000)
        assert (await t.event("delMsg", id="hand"))["s"] > left["s"] - 10
        # the survivor records the exit (its attendance is the cluster's: one database),
        # dated when the dead node was noticed, not when the grace period ended
        await poll(lambda: any(not x["entering"] for x in d.logins))
        [out] = [x for x in d.logins if not x["entering"]]
        assert (out["userid"], out["role"], out["nickname"]) == ("gone", 2, "GONE")
        assert killed_ms <= out["ts_ms"] <= seen_ms - grace * 1000
        assert not [x for x in d.logins if x["userid"] == "s"], "a resume is no exit nor entry"
        assert not [e for e in t.named("participantLeft") if e["data"]["id"] == "s"]
        assert {u["id"] for u in (await t.ok("getRoomUsers", {}))["userlist"]} == {"t", "s"}
    finally:
        crashing.kill()


async def test_a_teacher_reloading_onto_another_node_replaces_her_session(cluster):
    node, connect, _ = cluster
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room")})
    a, b = await node(d, grace=0.5), await node(d, grace=0.5)
    first = await connect(a)
    watcher = await connect(b)
    await first.join(ticket("r", "t", 0))
    await watcher.join(ticket("r", "s1"))
    await first.ok("pubMsg", {"name": "ClassBegin", "toID": "__all", "save": True})
    await first.ok("pubMsg", {"name": "board", "toID": "__all", "save": True,
                              "associatedUserID": "t"})
    await first.ok("setProperty", {"id": "s1", "properties": {"publishstate": 3}})
    again = await connect(b)
    joined = await again.join(ticket("r", "t", 0))
    assert [m["id"] for m in joined["msglist"]] == ["ClassBegin", "board"]
    # the old session, on the other node, is told and closed
    ev = await first.event("participantEvicted", id="t")
    assert ev["data"]["reason"] == {"code": 5208}
    await asyncio.wait_for(first.closed.wait(), 10)
    assert first.ws.close_code == 4001
    await watcher.wait_for(lambda e: e["ev"] == "participantJoined" and e["data"]["id"] == "t")
    # a later grace period runs out (a user dropped on node a) and nothing of the teacher's goes
    gone = await connect(a)
    await gone.join(ticket("r", "s2"))
    gone.ws.transport.abort()
    await watcher.event("participantLeft", id="s2", wait=30)
    assert not [e for e in watcher.events if e["ev"] in ("participantLeft", "delMsg")
                and e["data"]["id"] in ("t", "board", "ClassBegin")]
    got = (await again.ok("getRoomUsers", {}))["userlist"]
    assert {u["id"]: u["properties"]["publishstate"] for u in got} == {"t": 0, "s1": 3}
    await again.ok("pubMsg", {"name": "page", "toID": "__all", "save": True})
    await watcher.event("pubMsg", name="page")
