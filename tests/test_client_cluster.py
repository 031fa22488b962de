"""Two ``tkroom serve`` nodes over one real Redis, driven through the SDK: users on different
nodes share one class, and stopping a node moves its users to the other by reconnection
without anyone seeing them leave."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from client_helpers import Watched
from tkroom.client import Room
from webapi_nodes import Served, tkroom


async def _enter(port: int, serial: str, nick: str, uid: str, pwd: str, **opts) -> Watched:
    room = Room()
    room.init("cluster", **opts)
    w = Watched(room)
    await room.joinroom("127.0.0.1", port, nick, uid, {"serial": serial, "password": pwd})
    return w


async def _class(a: Served, b: Served, serial: str) -> None:
    t = await _enter(b.port, serial, "Ms T", "t1", "teach1")
    s = await _enter(a.port, serial, "Ann", "s1", "stud1", backoff_initial=0.05,
                     signal_urls=(f"ws://127.0.0.1:{b.signal_port}/signal",))
    try:
        await t.wait("room-participant_join", lambda ev: ev["user"]["id"] == "s1")
        await s.room.sendMessage("hello from node a")
        await t.wait("room-text-message", lambda ev: ev["message"] == "hello from node a")
        await t.room.changeUserProperty("s1", "__all", {"candraw": True})
        await s.wait("room-userproperty-changed", lambda ev: ev["message"] == {"candraw": True})
        await t.room.pubMsg(name="ClassBegin", id="ClassBegin", save=True, data={})
        await s.wait("room-pubmsg", lambda ev: ev["id"] == "ClassBegin")

        await asyncio.to_thread(a.stop)  # node a goes away; its HTTP side too
        await t.room.pubMsg(name="page", id="page", save=True, data={"n": 2})
        ev = await s.wait("room-reconnected", wait=30)
        assert ev["resumed"] is True
        await s.wait("room-pubmsg", lambda ev: ev["id"] == "page")
        assert [e["id"] for e in s.named("room-pubmsg")] == ["ClassBegin", "page"]
        assert s.room.getMySelf()["properties"]["candraw"] is True
        await asyncio.sleep(1.0)  # Ann's chat gap
        await s.room.sendMessage("now on node b")
        await t.wait("room-text-message", lambda ev: ev["message"] == "now on node b")
        assert not t.named("room-participant_leave"), "nobody saw Ann leave"
        assert await t.room.getRoomUserNum() == 2
    finally:
        for w in (s, t):
            await w.room.leaveroom()


def test_two_nodes_one_class_and_failover(tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv("TKROOM_EMBEDDED_JANUS", "0")  # media is not what this test is about
    data = ["--data", str(tmp_path)]
    ent = tkroom("admin", "enterprise", "create", "Cluster School", *data)
    assert ent.returncode == 0, ent.stderr
    key = json.loads(ent.stdout)["authkey"]
    a = Served(*data, "--redis", redis_url)
    b = Served(*data, "--redis", redis_url)
    try:
        now = int(time.time())
        made = httpx.post(f"{a.url}/WebAPI/roomcreate", data=dict(
            key=key, roomname="Shared", roomtype=3, starttime=now, endtime=now + 3600,
            chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1",
            passwordrequired=1, confuserpwd="stud1")).json()
        assert made["result"] == 0, made
        asyncio.run(_class(a, b, made["serial"]))
    finally:
        a.stop()
        b.stop()
