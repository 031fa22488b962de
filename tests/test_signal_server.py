"""The signalling server over real WebSockets: every code a user can provoke, and the rules."""

from __future__ import annotations

import asyncio
import time

import pytest

from signal_helpers import (  # noqa: F401
    SECRET,
    Client,
    MemoryDirectory,
    no_server_errors,
    start_server,
    stop_server,
    ticket,
)
from tkroom.directory import RoomInfo
from tkroom.state.memory import MemoryState
from tkroom.tickets import Identity


@pytest.fixture(params=["memory", "redis"])
async def world(request):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    d = MemoryDirectory(rooms={
        "r": RoomInfo("r", 1, "Room", maxusers=2, maxsidelineusers=1),
        "solo": RoomInfo("solo", 1, "Single", singlelogin=True),
        "big": RoomInfo("big", 1, "Big", bigroomthreshold=3),
        "keep": RoomInfo("keep", 1, "Keep", keepstate=True),
        "gone": RoomInfo("gone", 1, "Gone", deleted=True),
        "noview": RoomInfo("noview", 1, "No viewers"),
    }, groups={"r": {"g1", "g2"}})
    server = await start_server(d, state_url=url, grace=0.6, sweep_interval=0.05, group_timeout=0.3)
    clients: list[Client] = []

    async def connect() -> Client:
        c = await Client.connect(server.url)
        clients.append(c)
        return c

    async def member(serial: str, uid: str, role: int = 2, **extra) -> Client:
        c = await connect()
        await c.join(ticket(serial, uid, role), **extra)
        return c

    yield d, server, connect, member
    for c in clients:
        await c.close()
    await stop_server(server)


async def code(c: Client, ev: str, data=None) -> int:
    return (await c.req(ev, data))["code"]


# joining -------------------------------------------------------------------------------
async def test_join_codes(world):
    d, server, connect, member = world
    c = await connect()
    assert await code(c, "getUser", {"ids": ["x"]}) == 2508
    assert await code(c, "joinRoom", {}) == 63
    assert await code(c, "joinRoom", {"ticket": 5}) == 63
    assert await code(c, "joinRoom", "nope") == 63
    assert await code(c, "joinRoom", {"ticket": "garbage"}) == 5301
    assert await code(c, "joinRoom", {"ticket": ticket("r", "u", secret=b"other")}) == 5301
    expired = ticket("r", "u", now=time.time() - 3600)
    assert await code(c, "joinRoom", {"ticket": expired}) == 5301
    assert await code(c, "joinRoom", {"ticket": ticket("r", "u"), "userId": "v"}) == 63
    assert await code(c, "joinRoom", {"ticket": ticket("nothere", "u")}) == 4007
    assert await code(c, "joinRoom", {"ticket": ticket("gone", "u")}) == 3003
    assert await code(c, "joinRoom", {"serial": "r"}) == 5300
    assert await code(c, "joinRoom", {"serial": "r", "loginkey": "short"}) == 5301
    assert await code(c, "joinRoom", {"serial": "r", "loginkey": "k" * 40}) == 5301
    d.loginkeys[("r", "k" * 40)] = Identity("r", "keyuser", 1, "Key")
    ack = await c.req("joinRoom", {"serial": "r", "loginkey": "k" * 40})
    assert ack["code"] == 0 and ack["data"]["self"]["properties"]["role"] == 1
    assert await code(c, "joinRoom", {"ticket": ticket("r", "u")}) == 102
    assert await code(c, "resume", {"session": "x", "token": "y", "last": 0}) == 102


async def test_role_comes_from_the_proof(world):
    _, _, connect, member = world
    c = await member("r", "s1", 2, properties={"role": 0, "publishstate": 3, "hat": "red"})
    me = (await c.ok("getUser", {"ids": ["s1"]}))["users"][0]["properties"]
    assert me["role"] == 2 and me["publishstate"] == 0 and me["hat"] == "red"


async def test_limits(world):
    _, _, connect, member = world
    await member("r", "t", 0)
    c = await connect()
    assert await code(c, "joinRoom", {"ticket": ticket("r", "t2", 0)}) == 63
    await member("r", "s1")
    await member("r", "s2")
    assert await code(c, "joinRoom", {"ticket": ticket("r", "s3")}) == 64
    await member("r", "v1", 3)
    assert await code(c, "joinRoom", {"ticket": ticket("r", "v2", 3)}) == 5011
    assert await code(c, "joinRoom", {"ticket": ticket("noview", "v", 3)}) == 5011
    # assistants and inspectors are not limited
    await member("r", "a1", 1)
    await member("r", "a2", 1)
    await member("r", "i1", 4)


async def test_limits_hold_under_a_concurrent_storm(world):
    _, server, connect, _ = world
    conns = [await connect() for _ in range(12)]
    acks = await asyncio.gather(*[c.req("joinRoom", {"ticket": ticket("r", f"s{i}")})
                                  for i, c in enumerate(conns)])
    assert sorted(a["code"] for a in acks) == [0, 0] + [64] * 10


async def test_second_login_evicts_first_or_is_refused(world):
    _, _, connect, member = world
    watcher = await member("r", "t", 0)
    first = await member("r", "s1")
    second = await member("r", "s1")
    ev = await first.event("participantEvicted")
    assert ev["data"]["reason"] == {"code": 5208}
    await asyncio.wait_for(first.closed.wait(), 5)
    assert await code(second, "getRoomUserNum") == 0
    assert not second.named("participantEvicted")
    await watcher.wait_for(lambda e: e["ev"] == "participantJoined"
                           and e["data"]["id"] == "s1" and e["s"] > ev["s"])
    await member("solo", "u")
    c = await connect()
    ack = await c.req("joinRoom", {"ticket": ticket("solo", "u")})
    assert ack["code"] == 5208 and "logged in" in ack["msg"]


async def test_not_connected_and_unknown(world):
    _, _, connect, member = world
    c = await connect()
    for ev in ("leaveRoom", "setProperty", "sendMessage", "pubMsg", "delMsg",
               "evictParticipant", "getRoomUsers", "joinGroup"):
        assert await code(c, ev) == 2508
    assert await code(c, "fly") == 103
    m = await member("r", "s1")
    assert await code(m, "fly") == 103
    await m.ok("leaveRoom")
    assert await code(m, "leaveRoom") == 2508
    await m.join(ticket("r", "s1"))


# visibility, leaving ----------------------------------------------------------------------
async def test_join_leave_events_and_inspector_invisible(world):
    _, _, connect, member = world
    t = await member("r", "t", 0)
    s = await member("r", "s1")
    await t.event("participantJoined", id="s1")
    i = await member("r", "insp", 4)
    ack = await (await connect()).join(ticket("r", "s2"))
    assert {u["id"] for u in ack["userlist"]} == {"t", "s1", "s2"}
    assert await code(s, "getUser", {"ids": ["insp"]}) == 104
    assert (await s.ok("getRoomUserNum"))["num"] == 3
    await s.ok("leaveRoom")
    await t.event("participantLeft", id="s1")
    await i.ok("leaveRoom")
    await t.ok("sendMessage", {"message": "sync"})
    await t.event("sendMessage")
    assert not any(e["data"].get("id") == "insp" for e in t.events)
    assert not s.named("participantJoined") or all(e["data"]["id"] != "s1"
                                                   for e in s.named("participantJoined"))


# properties -------------------------------------------------------------------------------
async def test_set_property_rules(world):
    _, _, connect, member = world
    t = await member("r", "t", 0)
    s = await member("r", "s1")
    s2 = await member("r", "s2")
    assert await code(s, "setProperty", {"id": "s1", "properties": {"raisehand": True}}) == 0
    ev = await t.event("setProperty", id="s1")
    assert ev["data"] == {"id": "s1", "properties": {"raisehand": True}, "fromID": "s1"}
    assert await code(s, "setProperty", {"id": "s2", "properties": {"raisehand": True}}) == 4108
    assert await code(s, "setProperty", {"id": "s1", "properties": {"publishstate": 3}}) == 4108
    assert await code(s, "setProperty", {"id": "s1", "properties": {"candraw": True}}) == 4108
    assert await code(s, "setProperty", {"id": "s1", "properties": {"role": 0}}) == 4108
    assert await code(s, "setProperty", {"id": {"roles": [2]},
                                         "properties": {"x": 1}}) == 4108
    assert await code(s, "setProperty", {"id": "s1", "properties": []}) == 103
    assert await code(s, "setProperty", {"id": 7, "properties": {"x": 1}}) == 103
    assert await code(t, "setProperty", {"id": "ghost", "properties": {"x": 1}}) == 104
    # the teacher brings the student on stage; then it may switch and step down itself
    await t.ok("setProperty", {"id": "s1", "properties": {"publishstate": 3}})
    await s.ok("setProperty", {"id": "s1", "properties": {"publishstate": 1}})
    await s.ok("setProperty", {"id": "s1", "properties": {"publishstate": 0}})
    await t.ok("setProperty", {"id": {"roles": [2]}, "toID": "__allSuperUsers",
                               "properties": {"candraw": True}})
    got = await t.wait_for(lambda e: e["ev"] == "setProperty"
                           and e["data"]["properties"] == {"candraw": True}
                           and e["data"]["id"] == "s2")
    assert got["data"]["fromID"] == "t"
    await t.ok("setProperty", {"id": {"ids": ["s1", "s2"]}, "properties": {"raisehand": False}})
    await s2.event("setProperty", id="s1", properties={"raisehand": False})
    assert not [e for e in s2.named("setProperty") if e["data"]["properties"] == {"candraw": True}]
    users = (await s.ok("getUser", {"ids": ["s1", "s2"]}))["users"]
    assert all(u["properties"]["candraw"] is True for u in users)


# chat ---------------------------------------------------------------------------------------
async def test_chat_rules(world):
    d, _, connect, member = world
    t = await member("r", "t", 0)
    s = await member("r", "s1")
    v = await member("r", "v", 3)
    i = await member("r", "i", 4)
    ack = await s.req("sendMessage", {"message": "x" * 1024})
    assert ack["code"] == 61 and "1024" in ack["msg"]
    assert await code(s, "sendMessage", {"message": {"msg": "y" * 1023, "type": 0}}) == 0
    assert await code(s, "sendMessage", {"message": "again"}) == 62
    assert await code(s, "sendMessage", {}) == 103
    assert await code(i, "sendMessage", {"message": "hi"}) == 4108
    assert await code(v, "sendMessage", {"message": "viewer"}) == 0
    for n in range(3):                       # super users are not rate limited
        assert await code(t, "sendMessage", {"message": f"t{n}"}) == 0
    await t.ok("pubMsg", {"name": "EveryoneBanChat", "id": "EveryoneBanChat",
                          "toID": "__all", "save": True, "data": {}})
    await asyncio.sleep(1.05)
    assert await code(s, "sendMessage", {"message": "banned"}) == 4108
    assert await code(t, "sendMessage", {"message": "teacher talks"}) == 0
    await t.ok("delMsg", {"name": "EveryoneBanChat", "id": "EveryoneBanChat", "toID": "__all"})
    await t.ok("setProperty", {"id": "s1", "properties": {"disablechat": True}})
    assert await code(s, "sendMessage", {"message": "muted"}) == 4108
    await t.ok("setProperty", {"id": "s1", "properties": {"disablechat": False}})
    assert await code(s, "sendMessage", {"message": "free", "toID": "t"}) == 0
    e = await t.event("sendMessage", message="free")
    assert e["data"]["fromID"] == "s1" and e["data"]["nickname"] == "S1" and e["data"]["role"] == 2
    kept = [m["message"] for serial, m in d.chats if serial == "r"]
    assert kept == [{"msg": "y" * 1023, "type": 0}, "viewer", "t0", "t1", "t2",
                    "teacher talks", "free"]
    assert not [x for x in s.named("sendMessage") if x["data"]["message"] == "free"]


# routing ------------------------------------------------------------------------------------
async def test_toid_routing(world):
    d, _, connect, member = world
    t = await member("r", "t", 0)
    a = await member("r", "a", 1)
    s1 = await member("r", "s1")
    s2 = await member("r", "s2")
    v = await member("r", "v", 3)
    i = await member("r", "i", 4)
    everyone = {"t": t, "a": a, "s1": s1, "s2": s2, "v": v, "i": i}
    await t.ok("setProperty", {"id": "s1", "properties": {"group": "g1"}})
    cases = [
        ("__all", {"t", "a", "s1", "s2", "v", "i"}),
        ("__allExceptSender", {"a", "s1", "s2", "v", "i"}),
        ("__allExceptAuditor", {"t", "a", "s1", "s2", "i"}),
        ("__none", set()),
        ("__allSuperUsers", {"t", "a"}),
        ("s2", {"s2"}),
        (["s1", "v"], {"s1", "v"}),
        ({"roles": [2, 3]}, {"s1", "s2", "v"}),
        ({"group": "g1"}, {"t", "a", "s1"}),
    ]
    for n, (toid, _) in enumerate(cases):
        await t.ok("pubMsg", {"name": "probe", "id": f"p{n}", "toID": toid, "data": {"n": n}})
    await t.ok("pubMsg", {"name": "end", "toID": "__all"})
    for c in everyone.values():
        await c.event("pubMsg", name="end")
    for n, (toid, want) in enumerate(cases):
        got = {u for u, c in everyone.items()
               if any(e["data"]["id"] == f"p{n}" for e in c.named("pubMsg"))}
        assert got == want, (toid, got)


# saved messages ------------------------------------------------------------------------------
async def test_saved_messages(world):
    d, _, connect, member = world
    t = await member("r", "t", 0)
    s = await member("r", "s1")
    seqs = []
    for mid, extra in [("A", {}), ("B", {"associatedMsgID": "A"}),
                       ("C", {"associatedUserID": "s1"}), ("D", {})]:
        ack = await t.ok("pubMsg", {"name": mid, "id": mid, "toID": "__all", "save": True,
                                    "data": {"v": 1}, **extra})
        seqs.append(ack["seq"])
    assert seqs == sorted(seqs)
    assert (await t.ok("pubMsg", {"name": "A", "id": "A", "save": True, "data": {"v": 2}}))[
        "seq"] > seqs[-1]
    assert (await t.ok("pubMsg", {"name": "tmp", "toID": "__all"}))["seq"] == 0
    late = await (await connect()).join(ticket("r", "s2"))
    assert [m["id"] for m in late["msglist"]] == ["B", "C", "D", "A"]
    assert late["msglist"][-1]["data"] == {"v": 2}
    # student rules
    assert await code(s, "pubMsg", {"name": "x", "toID": "__all"}) == 4108
    assert await code(s, "pubMsg", {"name": "x", "toID": "__none", "save": True}) == 4108
    assert await code(s, "pubMsg", {"name": "mine", "toID": "__allSuperUsers", "save": True,
                                    "associatedUserID": "s1"}) == 0
    assert await code(s, "delMsg", {"name": "D", "toID": "__none"}) == 4108
    assert await code(s, "pubMsg", {"toID": "__all"}) == 103
    assert await code(s, "pubMsg", "x") == 103
    # deleting A takes B with it; s1 leaving takes C and "mine"
    await t.ok("delMsg", {"name": "A", "id": "A", "toID": "__all"})
    await t.event("delMsg", id="B", fromID="__server")
    await s.ok("leaveRoom")
    await t.event("delMsg", id="C")
    await t.event("delMsg", id="mine")
    late = await (await connect()).join(ticket("r", "s3"))
    assert [m["id"] for m in late["msglist"]] == ["D"]


async def test_room_empties_clears_unless_keepstate(world):
    d, server, connect, member = world
    for serial, kept in (("r", []), ("keep", ["K"])):
        t = await member(serial, "t", 0)
        await t.ok("pubMsg", {"name": "K", "toID": "__all", "save": True})
        await t.ok("leaveRoom")
        if isinstance(server.state, MemoryState):                 # an empty room is freed
            assert (serial in server.state.rooms) == bool(kept)
        again = await member(serial, "t2", 0)
        ack = await again.req("getRoomUserNum")
        assert ack["code"] == 0
        late = await (await connect()).join(ticket(serial, "s9"))
        assert [m["id"] for m in late["msglist"]] == kept


async def test_class_begin_calls_the_directory(world):
    d, _, connect, member = world
    t = await member("r", "t", 0)
    await t.ok("pubMsg", {"name": "ClassBegin", "id": "ClassBegin", "toID": "__all",
                          "save": True, "data": {"recordtype": 0}})
    await t.ok("pubMsg", {"name": "ClassBegin", "id": "ClassBegin", "toID": "__all",
                          "save": True, "data": {"recordtype": 1}})
    assert d.classstates == [("r", 0)]
    await t.ok("delMsg", {"name": "ClassBegin", "id": "ClassBegin", "toID": "__all"})
    assert d.classstates == [("r", 0), ("r", 1)]
    await t.ok("pubMsg", {"name": "ClassBegin", "id": "ClassBegin", "toID": "__all",
                          "save": True})
    await t.ok("leaveRoom")       # the room empties: class is over
    assert d.classstates == [("r", 0), ("r", 1), ("r", 0), ("r", 1)]


async def test_ending_the_class_takes_everyone_off_stage(world):
    d, _, connect, member = world
    t = await member("r", "t", 0)
    s1, s2 = await member("r", "s1"), await member("r", "s2")
    a = await member("r", "a", 1)
    await t.ok("pubMsg", {"name": "ClassBegin", "id": "ClassBegin", "toID": "__all",
                          "save": True})
    await t.ok("setProperty", {"id": "s1", "properties": {"publishstate": 3}})
    await t.ok("setProperty", {"id": "t", "properties": {"publishstate": 3}})
    await s2.ok("setProperty", {"id": "s2", "properties": {"raisehand": True}})
    await s2.event("setProperty", id="s1", properties={"publishstate": 3})
    # a bare client (no page logic) ends the class: the server empties the stage itself
    await a.ok("delMsg", {"name": "ClassBegin", "id": "ClassBegin", "toID": "__all"})
    for c in (t, s1, s2, a):
        ev = await c.event("setProperty", id="s1", properties={"publishstate": 0})
        assert ev["data"]["fromID"] == "__server"
        await c.event("setProperty", id="s2", properties={"raisehand": False})
    assert d.classstates[-1] == ("r", 1)
    # a student may not step back on stage by itself now
    assert await code(s1, "setProperty", {"id": "s1", "properties": {"publishstate": 3}}) == 4108
    late = await (await connect()).join(ticket("r", "v", 3))
    listed = {u["id"]: u["properties"] for u in late["userlist"]}
    assert listed["s1"]["publishstate"] == 0 and listed["s2"]["raisehand"] is False
    assert listed["t"]["publishstate"] == 3                  # the teacher stays on stage
    assert not [m for m in late["msglist"] if m["id"] == "ClassBegin"]


async def test_a_class_ending_with_the_teachers_leave_empties_the_stage(world):
    d, _, connect, member = world
    t, s1 = await member("r", "t", 0), await member("r", "s1")
    await t.ok("pubMsg", {"name": "ClassBegin", "id": "ClassBegin", "toID": "__all",
                          "save": True, "associatedUserID": "t"})
    await t.ok("setProperty", {"id": "s1", "properties": {"publishstate": 2}})
    await t.ok("leaveRoom")
    await s1.event("delMsg", id="ClassBegin")
    ev = await s1.event("setProperty", id="s1", properties={"publishstate": 0})
    assert ev["data"]["fromID"] == "__server"
    assert d.classstates[-1] == ("r", 1)


# eviction --------------------------------------------------------------------------------------
async def test_evict(world):
    _, _, connect, member = world
    t = await member("r", "t", 0)
    a = await member("r", "a", 1)
    s = await member("r", "s1")
    s2 = await member("r", "s2")
    assert await code(s, "evictParticipant", {"id": "s2"}) == 4108
    assert await code(t, "evictParticipant", {"id": "ghost"}) == 104
    assert await code(t, "evictParticipant", {}) == 103
    assert await code(a, "evictParticipant", {"id": "t"}) == 4108
    await t.ok("evictParticipant", {"id": "s1", "reason": {"why": "noise"}})
    ev = await s.event("participantEvicted")
    assert ev["data"] == {"id": "s1", "reason": {"why": "noise"}, "fromID": "t"}
    await asyncio.wait_for(s.closed.wait(), 5)
    await s2.event("participantLeft", id="s1")
    assert not s2.named("participantEvicted")
    assert (await t.ok("getRoomUserNum", {"roles": [2]}))["num"] == 1


@pytest.fixture(params=["memory", "redis"])
async def clocked(request):
    """A server whose clock the test moves (whole seconds, so times in ms are exact)."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    now = [float(int(time.time()))]
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room"),
                               "open": RoomInfo("open", 1, "Open", evictseconds=0)})
    server = await start_server(d, state_url=url, grace=0.6, sweep_interval=0.05,
                                clock=lambda: now[0])
    clients: list[Client] = []

    async def connect() -> Client:
        c = await Client.connect(server.url)
        clients.append(c)
        return c

    yield d, now, connect
    for c in clients:
        await c.close()
    await stop_server(server)


async def test_an_evicted_user_stays_out_for_the_rooms_evictseconds(clocked):
    d, now, connect = clocked
    t = await connect()
    await t.join(ticket("r", "t", 0, now=now[0]))
    s = await connect()
    same = ticket("r", "s1", now=now[0])
    await s.join(same)
    await t.ok("evictParticipant", {"id": "s1"})
    await asyncio.wait_for(s.closed.wait(), 5)
    left = await t.event("participantLeft", id="s1")
    again = await connect()
    ack = await again.req("joinRoom", {"ticket": same})
    assert ack["code"] == 4108 and "evicted" in ack["msg"] and "in 180 s" in ack["msg"], ack
    d.loginkeys[("r", "k" * 40)] = Identity("r", "s1", 2, "S1")     # any proof of the same id
    assert (await again.req("joinRoom", {"serial": "r", "loginkey": "k" * 40}))["code"] == 4108
    assert (await t.ok("getRoomUserNum", {"roles": [2]}))["num"] == 0
    assert [e["data"]["id"] for e in t.named("participantJoined")] == ["s1"]   # the first join
    other = await connect()
    await other.join(ticket("r", "s2", now=now[0]))                 # nobody else is kept out
    now[0] += 170
    ack = await again.req("joinRoom", {"ticket": ticket("r", "s1", now=now[0])})
    assert ack["code"] == 4108 and "in 10 s" in ack["msg"], ack
    now[0] += 10
    await again.join(ticket("r", "s1", now=now[0]))
    await t.wait_for(lambda e: e["ev"] == "participantJoined" and e["s"] > left["s"])
    # a room whose evictseconds is 0 lets the user back at once
    t2 = await connect()
    await t2.join(ticket("open", "t", 0, now=now[0]))
    s3 = await connect()
    await s3.join(ticket("open", "s3", now=now[0]))
    await t2.ok("evictParticipant", {"id": "s3"})
    await asyncio.wait_for(s3.closed.wait(), 5)
    await (await connect()).join(ticket("open", "s3", now=now[0]))


# a student taking over the class ------------------------------------------------------------
async def test_a_student_cannot_take_over_the_class(world):
    d, server, connect, member = world
    t = await member("r", "t", 0)
    s = await member("r", "s1")
    s2 = await member("r", "s2")
    await t.ok("pubMsg", {"name": "Doc", "id": "Doc", "toID": "__all",
                          "save": True, "data": {"page": 3}})
    await t.ok("pubMsg", {"name": "Hand", "id": "Hand", "toID": "__all", "save": True,
                          "associatedUserID": "s1"})
    before = await server.state.messages("r")
    hostile = {"toID": "__none", "save": True, "associatedUserID": "s1",
               "data": {"record": True, "recordchat": True}}
    for mid in ("ClassBegin", "EveryoneBanChat", "OnlyAudioRoom", "BigRoom"):
        for ids in ({"name": mid, "id": mid}, {"name": mid, "id": "x"}, {"name": "x", "id": mid}):
            for toid in ("__none", "t", "__allSuperUsers"):
                ack = await s.req("pubMsg", {**ids, **hostile, "toID": toid})
                assert ack["code"] == 4108, ack
                assert "class state" in ack["msg"] and "No permission" in ack["msg"]
            assert (await s.req("delMsg", {**ids, "toID": "__none"}))["code"] == 4108
    for mid in ("Doc", "Hand"):
        ack = await s.req("pubMsg", {"name": mid, "id": mid, **hostile})
        assert ack["code"] == 4108 and "someone else's" in ack["msg"], ack
        ack = await s.req("delMsg", {"name": mid, "id": mid, "toID": "__none"})
        assert ack["code"] == 4108 and "someone else's" in ack["msg"], ack
    ack = await s.req("pubMsg", {"name": "note", "toID": ["t", "s1", "s2"]})
    assert ack["code"] == 4108 and "one user id" in ack["msg"]
    await s.ok("pubMsg", {"name": "note", "toID": ["t"], "data": {"q": 1}})
    await t.event("pubMsg", name="note", fromID="s1")
    # its own saved messages it may replace and delete
    await s.ok("pubMsg", {"name": "Mine", "id": "Mine", **hostile})
    await s.ok("pubMsg", {"name": "Mine", "id": "Mine", **hostile})
    await s.ok("delMsg", {"name": "Mine", "id": "Mine", "toID": "__none"})
    await s.ok("pubMsg", {"name": "Mine", "id": "Mine", **hostile})
    # nothing the student did changed the class: no begin, chat open, messages intact
    assert d.classstates == []
    assert (await s2.req("sendMessage", {"message": "still open"}))["code"] == 0
    assert not await server.state.has_message("r", "ClassBegin")
    await s.ok("leaveRoom")
    await t.event("delMsg", id="Mine", fromID="__server")
    await t.event("delMsg", id="Hand", fromID="__server")
    late = await (await connect()).join(ticket("r", "s3"))
    assert late["msglist"] == [m for m in before if m["id"] != "Hand"]
    assert late["mode"] == "normalRoom"
    assert d.classstates == []
    assert not [e for e in t.named("delMsg") if e["data"]["id"] == "Doc"]
    # the teacher's own class begins as before
    await t.ok("pubMsg", {"name": "ClassBegin", "id": "ClassBegin", "toID": "__all",
                          "save": True})
    assert d.classstates == [("r", 0)]


# user lists ---------------------------------------------------------------------------------
async def test_get_users_paging_and_search(world):
    _, _, connect, member = world
    t = await member("keep", "t", 0)
    for n in range(5):
        await member("keep", f"stud{n}")
    await member("keep", "insp", 4)
    page = await t.ok("getRoomUsers", {"start": 1, "max": 2, "roles": [2]})
    assert page["total"] == 5 and [u["id"] for u in page["userlist"]] == ["stud1", "stud2"]
    found = await t.ok("getRoomUsers", {"search": "STUD3"})
    assert [u["id"] for u in found["userlist"]] == ["stud3"]
    assert (await t.ok("getRoomUserNum", {}))["num"] == 6
    assert await code(t, "getRoomUsers", {"max": 0}) == 103
    assert await code(t, "getRoomUsers", {"roles": [7]}) == 103
    assert await code(t, "getRoomUserNum", {"roles": "x"}) == 103
    assert await code(t, "getUser", {"ids": "t"}) == 103
    assert await code(t, "getUser", {"ids": ["ghost"]}) == 104


# groups ---------------------------------------------------------------------------------------
async def test_groups(world):
    d, _, connect, member = world
    t = await member("r", "t", 0)
    s1 = await member("r", "s1")
    s2 = await member("r", "s2")
    v = await member("r", "v", 3)
    assert await code(s1, "joinGroup", {"groupid": "nope"}) == 156
    assert await code(v, "joinGroup", {"groupid": "g1"}) == 156
    assert await code(s1, "joinGroup", {}) == 156
    assert await code(s1, "leaveGroup") == 102
    ack = await s1.ok("joinGroup", {"groupid": "g1"})
    assert ack["group"] == "g1" and [u["id"] for u in ack["userlist"]] == ["s1"]
    await s2.ok("joinGroup", {"groupid": "g2"})
    await t.ok("sendMessage", {"message": "to g1", "toID": {"group": "g1"}})
    await t.ok("sendMessage", {"message": "to all"})
    await s2.event("sendMessage", message="to all")
    await s1.event("sendMessage", message="to g1")
    assert not [e for e in s2.events if e["data"].get("message") == "to g1"]
    await s1.ok("leaveGroup")
    assert (await s1.ok("getUser", {"ids": ["s1"]}))["users"][0]["properties"]["group"] is None
    d.group_delay = 1.0
    assert await code(s1, "joinGroup", {"groupid": "g1"}) == 155


# big rooms ------------------------------------------------------------------------------------
async def test_big_room_mode(world):
    _, _, connect, member = world
    t = await member("big", "t", 0)
    await member("big", "s1")
    await member("big", "s2")
    await t.event("participantJoined", id="s2")
    s3 = await member("big", "s3")            # 4 members > threshold 3
    await t.event("roomModeChanged", mode="bigRoom")
    await s3.ok("sendMessage", {"message": "mark"})
    await t.event("sendMessage", message="mark")
    assert not [e for e in t.named("participantJoined") if e["data"]["id"] == "s3"]
    late = await member("big", "s4")
    ack_users = (await late.ok("getRoomUsers", {"max": 2}))
    assert ack_users["total"] == 5 and len(ack_users["userlist"]) == 2
    a = await connect()
    joined = await a.join(ticket("big", "asst", 1))
    assert joined["mode"] == "bigRoom"
    assert {u["id"] for u in joined["userlist"]} == {"t", "asst"}
    await t.event("participantJoined", id="asst")   # super users are still announced
    await t.ok("setProperty", {"id": "s4", "properties": {"publishstate": 3}})
    await a.event("participantPublished", id="s4")
    await late.ok("leaveRoom")
    await member("big", "s5")
    await t.ok("sendMessage", {"message": "mark2"})
    await t.event("sendMessage", message="mark2")
    assert {e["data"]["id"] for e in t.named("participantLeft")} == {"s4"}
    assert len(t.named("roomModeChanged")) == 1


# frames ----------------------------------------------------------------------------------------
async def test_bad_frames_answered_with_103(world):
    _, _, connect, member = world
    c = await member("r", "s1")
    for raw in (b"\x00\x01", "not json", "[1,2]", '{"id": 3}', '{"id": true, "ev": "getUser"}',
                '{"ev": "x", "data": ' + '"' + "y" * 70000 + '"}'):
        await c.send_raw(raw)
        frame = await asyncio.wait_for(c.null_acks.get(), 5)
        assert frame["code"] == 103, (raw[:40], frame)
        assert frame["ack"] == (3 if raw == '{"id": 3}' else None)
    assert (await c.ok("getRoomUserNum"))["num"] == 1
    deep = '{"id": 5, "ev": "sendMessage", "data": {"message": ' + "[" * 20000 + "]" * 20000 + "}}"
    assert len(deep) < 65536
    for raw, rid in ((deep, None), ('{"id": 6, "ev": "sendMessage", "data": {"message": "\\ud800"}}', 6)):
        await c.send_raw(raw)
        frame = await asyncio.wait_for(c.null_acks.get(), 5)
        assert frame["code"] == 103 and frame["ack"] == rid, frame
    assert (await c.ok("sendMessage", {"message": "still here \u00e9\u4e2d"}))["ts"] > 0


def test_secret_is_bytes():
    assert isinstance(SECRET, bytes)


async def test_own_events_come_before_the_ack(world):
    _, _, connect, member = world
    t = await member("r", "t", 0)
    s = await member("r", "s1")
    for n in range(5):
        t.order.clear()
        ack = await t.req("pubMsg", {"name": "p", "id": f"p{n}", "toID": "__all"})
        assert t.order == [("ev", "pubMsg"), ("ack", ack["ack"])]
        s.order.clear()
        ack = await s.req("setProperty", {"id": "s1", "properties": {"n": n}})
        assert s.order == [("ev", "setProperty"), ("ack", ack["ack"])]
