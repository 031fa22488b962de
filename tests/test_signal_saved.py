"""Saved messages under load, and a user who joins again (a reload), over real WebSockets.

A room caps its saved messages (2601, the room's state intact); a leave that takes many saved
messages with it lets the node's loop run other work meanwhile; a teacher who joins again with
the same user id replaces her earlier session at once and keeps the class's state.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from signal_helpers import (  # noqa: F401
    Client,
    MemoryDirectory,
    no_server_errors,
    start_server,
    stop_server,
    ticket,
)
from tkroom.directory import RoomInfo
from tkroom.rooms.transitions import NO_LIMITS, SavePolicy


@pytest.fixture(params=["memory", "redis"])
async def world(request):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room"),
                               "open": RoomInfo("open", 1, "Uncapped")})
    servers = []
    clients: list[Client] = []

    async def server(saved: SavePolicy = NO_LIMITS):
        s = await start_server(d, state_url=url, grace=0.5, sweep_interval=0.05, saved=saved)
        servers.append(s)
        return s

    async def member(s, serial: str, uid: str, role: int = 2) -> Client:
        c = await Client.connect(s.url)
        clients.append(c)
        await c.join(ticket(serial, uid, role))
        return c

    yield server, member
    for c in clients:
        await c.close()
    for s in servers:
        await stop_server(s)


def saved_msg(i: int, uid: str, **extra) -> dict:
    return {"name": "note", "id": f"{uid}-{i}", "toID": "__none", "save": True,
            "associatedUserID": uid, "data": {"i": i}, **extra}


async def test_saved_messages_are_capped_per_user_and_per_room(world):
    server, member = world
    s = await server(SavePolicy(max_room=4, max_user=2))
    teacher = await member(s, "r", "t", 0)
    stu = await member(s, "r", "s1")
    for i in range(2):
        await stu.ok("pubMsg", saved_msg(i, "s1"))
    ack = await stu.req("pubMsg", saved_msg(2, "s1"))
    assert ack["code"] == 2601
    assert "at most 2 saved messages may be associated with one user" in ack["msg"]
    # replacing one's own message is fine at the limit; unsaved messages are not counted
    await stu.ok("pubMsg", saved_msg(1, "s1", data={"i": "again"}))
    await stu.ok("pubMsg", {**saved_msg(9, "s1"), "save": False})
    await teacher.ok("pubMsg", {"name": "ClassBegin", "toID": "__all", "save": True})
    await teacher.ok("pubMsg", {"name": "page", "toID": "__all", "save": True})
    ack = await teacher.req("pubMsg", {"name": "note", "toID": "__all", "save": True})
    assert ack["code"] == 2601 and "the room keeps at most 4 saved messages" in ack["msg"]
    assert all(e["data"]["id"] != "note" for e in teacher.named("pubMsg"))
    # the room is intact: a late joiner gets exactly what was accepted, in seq order
    snapshot = await late_join_msglist(s)
    assert [m["id"] for m in snapshot] == ["s1-0", "s1-1", "ClassBegin", "page"]
    assert snapshot[1]["data"] == {"i": "again"}
    # deleting makes room again
    await teacher.ok("delMsg", {"name": "page", "toID": "__all"})
    await teacher.ok("pubMsg", {"name": "note", "toID": "__all", "save": True})


async def late_join_msglist(s) -> list[dict]:
    c = await Client.connect(s.url)
    try:
        return (await c.join(ticket("r", "late-reader", 1)))["msglist"]
    finally:
        await c.close()


async def test_a_long_cascade_leaves_the_loop_free_and_the_rest_intact(world):
    server, member = world
    s = await server(NO_LIMITS)            # no limit: the cascade is as long as it gets
    teacher = await member(s, "open", "t", 0)
    stu = await member(s, "open", "s1")
    n = 600
    await teacher.ok("pubMsg", {"name": "ClassBegin", "toID": "__all", "save": True})
    acks = await asyncio.gather(*[stu.req("pubMsg", saved_msg(i, "s1")) for i in range(n)])
    assert all(a["code"] == 0 for a in acks)
    # a chain hanging on the student's last message goes too (associatedMsgID cascade)
    await teacher.ok("pubMsg", {"name": "reply", "toID": "__all", "save": True,
                                "associatedMsgID": f"s1-{n - 1}"})
    deleted = 0
    seen_mid_cascade: list[int] = []

    def count(e) -> None:
        nonlocal deleted
        if e.ev == "delMsg":
            deleted += 1

    await s.state.subscribe("open", count)

    async def probe() -> None:
        # another task of the node's loop: it must get turns while the cascade is published
        while True:
            await asyncio.sleep(0)
            if 0 < deleted < n + 1:
                seen_mid_cascade.append(deleted)

    task = asyncio.ensure_future(probe())
    try:
        await stu.ok("leaveRoom")
        await teacher.wait_for(lambda e: e["ev"] == "delMsg" and e["data"]["id"] == "reply",
                               wait=60)
    finally:
        task.cancel()
        s.state.unsubscribe("open", count)
    assert seen_mid_cascade, "the loop ran nothing else while the cascade was published"
    gone = {e["data"]["id"] for e in teacher.named("delMsg")}
    assert gone == {f"s1-{i}" for i in range(n)} | {"reply"}
    assert all(e["data"]["fromID"] == "__server" for e in teacher.named("delMsg"))
    msgs = (await s.state.messages("open"))
    assert [m["id"] for m in msgs] == ["ClassBegin"]


async def test_a_teacher_joining_again_replaces_her_session_and_keeps_the_class(world):
    server, member = world
    s = await server()
    first = await member(s, "r", "t", 0)
    stu = await member(s, "r", "s1")
    watcher = await member(s, "r", "s2")
    await first.ok("pubMsg", {"name": "ClassBegin", "toID": "__all", "save": True})
    # class state tied to the teacher: it goes when she leaves, not when she reloads
    await first.ok("pubMsg", {"name": "BlackBoard", "id": "board-t", "toID": "__all",
                              "save": True, "associatedUserID": "t", "data": {"strokes": 3}})
    await first.ok("setProperty", {"id": "t", "properties": {"publishstate": 3}})
    await first.ok("setProperty", {"id": "s1", "properties": {"publishstate": 3,
                                                              "candraw": True}})
    await watcher.event("setProperty", id="s1")
    # the reload: a new connection joins with the same id while the old one is still open
    again = await Client.connect(s.url)
    ack = await again.req("joinRoom", {"ticket": ticket("r", "t", 0)})
    assert ack["code"] == 0, ack
    joined = ack["data"]
    again.session = joined["session"]
    again.last_s = joined["s"]
    assert [m["id"] for m in joined["msglist"]] == ["ClassBegin", "board-t"]
    assert joined["self"]["properties"]["publishstate"] == 3
    users = {u["id"]: u["properties"] for u in joined["userlist"]}
    assert set(users) == {"t", "s1", "s2"} and users["s1"]["candraw"] is True
    evicted = await first.event("participantEvicted", id="t")
    assert evicted["data"]["reason"] == {"code": 5208}
    await asyncio.wait_for(first.closed.wait(), 10)
    assert first.ws.close_code == 4001
    # the others see the teacher once more (replace your copy), never leaving
    rejoined = await watcher.wait_for(lambda e: e["ev"] == "participantJoined"
                                      and e["data"]["id"] == "t")
    assert rejoined["data"]["properties"]["publishstate"] == 3
    # the old session is gone for good: once a later grace period has run out (s2 drops
    # without leaving and is removed), nothing of the teacher's went with it
    watcher.ws.transport.abort()
    await stu.event("participantLeft", id="s2", wait=30)
    for c in (stu, again):
        assert not [e for e in c.events if e["ev"] in ("participantLeft", "delMsg")
                    and e["data"]["id"] in ("t", "board-t", "ClassBegin")]
    assert [m["id"] for m in await s.state.messages("r")] == ["ClassBegin", "board-t"]
    # the new session works and is the teacher
    await again.ok("pubMsg", {"name": "page", "toID": "__all", "save": True})
    await stu.event("pubMsg", name="page")
    assert (await again.ok("getRoomUserNum", {"roles": [0]}))["num"] == 1
    await again.close()


async def test_a_burst_of_requests_is_served_one_per_turn_of_the_loop(world):
    server, member = world
    s = await server()
    stu = await member(s, "r", "s1")
    n = 300
    handled = 0
    jumps: list[int] = []

    def count(e) -> None:
        nonlocal handled
        if e.ev == "pubMsg":
            handled += 1

    await s.state.subscribe("r", count)

    async def probe() -> None:
        seen = 0
        while seen < n:
            await asyncio.sleep(0)
            jumps.append(handled - seen)
            seen = handled

    task = asyncio.ensure_future(probe())
    try:
        for i in range(n):          # all sent before the first ack comes back
            await stu.send_raw(json.dumps({"id": f"b{i}", "ev": "pubMsg", "data": {
                "name": "n", "toID": "__none", "data": {"i": i}}}))
        await asyncio.wait_for(task, 60)
    finally:
        task.cancel()
        s.state.unsubscribe("r", count)
    # other work of the node (here the probe) ran between any two requests of the burst
    assert max(jumps) <= 2, sorted(jumps)[-5:]
