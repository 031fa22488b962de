"""The SDK against a real signalling node (in this process, memory state): every call, its
events on the other members' side, and the server's codes surfacing as ClientError."""

from __future__ import annotations

import asyncio

import pytest

from client_helpers import Watched, join
from signal_helpers import MemoryDirectory, start_server, ticket
from tkroom.client import ClientError, JoinGroupError, Room, State
from tkroom.directory import RoomInfo


@pytest.fixture
async def env():
    d = MemoryDirectory(rooms={"r1": RoomInfo("r1", 1, "Room 1", maxusers=3)},
                        groups={"r1": {"g1"}})
    server = await start_server(d, grace=5.0, sweep_interval=0.05, group_timeout=1.0)
    rooms: list[Watched] = []

    async def member(uid: str, role: int = 2, **opts) -> Watched:
        w = await join(server.url, "r1", uid, role, **opts)
        rooms.append(w)
        return w

    yield d, server, member
    for w in rooms:
        if w.room.state is not State.IDLE:
            await w.room.leaveroom()
    await server.stop()


async def test_join_users_and_local_state(env):
    _, _, member = env
    t = await member("teach", 0)
    assert t.named("room-connected")[0]["self"]["id"] == "teach"
    s = await member("stu", 2, properties={"avatar": "cat.png", "hasvideo": False})
    ev = await t.wait("room-participant_join")
    assert ev["user"]["id"] == "stu" and ev["user"]["properties"]["role"] == 2
    assert ev["user"]["properties"]["avatar"] == "cat.png"
    assert set(s.room.getUsers()) == {"teach", "stu"}
    assert s.room.getMySelf()["id"] == "stu"
    assert s.room.getUser("teach")["properties"]["role"] == 0
    assert s.room.getRoomProperties()["serial"] == "r1"
    assert await t.room.getRoomUserNum() == 2
    users, total = await t.room.getRoomUsers(0, 10, roles=[2])
    assert total == 1 and users[0]["id"] == "stu"
    with pytest.raises(ClientError) as e:
        await s.room.joinroomEx("ws://127.0.0.1:1/", "x")
    assert e.value.code == 102
    await s.room.leaveroom()
    left = await t.wait("room-participant_leave")
    assert left["user"]["id"] == "stu"
    assert "stu" not in t.room.getUsers()
    assert s.named("room-leaveroom")


async def test_chat_and_chat_codes(env):
    _, _, member = env
    t = await member("teach", 0)
    s = await member("stu")
    await s.room.sendMessage("hello", "__all", {"type": 0})
    got = await t.wait("room-text-message")
    assert got["userid"] == "stu" and got["message"] == {"msg": "hello", "type": 0}
    with pytest.raises(ClientError) as e:
        await s.room.sendMessage("again")
    assert e.value.code == 62
    assert e.value.message.startswith("The interval between sending text messages")
    await asyncio.sleep(1.05)
    with pytest.raises(ClientError) as e:
        await s.room.sendMessage("x" * 1024)
    assert e.value.code == 61
    for i in range(3):  # the teacher is not rate limited
        await t.room.sendMessage(f"t{i}")
    await s.wait("room-text-message", lambda ev: ev["message"] == "t2")


async def test_saved_messages_and_late_joiner(env):
    _, _, member = env
    t = await member("teach", 0)
    s = await member("stu")
    seq = (await t.room.pubMsg(name="ClassBegin", id="ClassBegin", toID="__all", save=True,
                               data={"recordtype": 0}))["seq"]
    got = await s.wait("room-pubmsg", lambda ev: ev["id"] == "ClassBegin")
    assert got["seq"] == seq and got["fromID"] == "teach"
    await t.room.pubMsg({"name": "note", "id": "note", "save": True, "data": {"t": 1}})
    late = await member("late")
    ids = [m["id"] for m in late.named("room-connected")[0]["message"]]
    assert ids == ["ClassBegin", "note"]
    assert [m["id"] for m in late.room.getMsgList()] == ["ClassBegin", "note"]
    await t.room.delMsg(name="note", id="note")
    await late.wait("room-delmsg", lambda ev: ev["id"] == "note")
    assert [m["id"] for m in late.room.getMsgList()] == ["ClassBegin"]
    with pytest.raises(ClientError) as e:  # a student may not steer the class
        await s.room.pubMsg(name="ClassBegin", id="ClassBegin", toID="__all", save=True)
    assert e.value.code == 4108


async def test_properties(env):
    _, _, member = env
    t = await member("teach", 0)
    s = await member("stu")
    s2 = await member("stu2")
    await s.room.changeUserProperty("stu", "__all", {"raisehand": True})
    ev = await t.wait("room-userproperty-changed")
    assert ev["user"]["id"] == "stu" and ev["message"] == {"raisehand": True}
    assert ev["fromID"] == "stu"
    assert t.room.getUser("stu")["properties"]["raisehand"] is True
    with pytest.raises(ClientError) as e:
        await s.room.changeUserProperty("stu2", "__all", {"raisehand": True})
    assert e.value.code == 4108
    with pytest.raises(ClientError) as e:
        await t.room.changeUserProperty("ghost", "__all", {"candraw": True})
    assert e.value.code == 104
    await t.room.changeUserPublish("stu", 3)
    await s.wait("room-userproperty-changed", lambda ev: ev["message"].get("publishstate") == 3)
    assert s.room.getMySelf()["properties"]["publishstate"] == 3
    await t.room.changeUserPropertyByRole([2], "__all", {"candraw": True})
    await s2.wait("room-userproperty-changed", lambda ev: ev["message"].get("candraw") is True)
    await t.room.batchChangeUserProperty(["stu", "stu2"], "__all", {"disablechat": True})
    await s2.wait("room-userproperty-changed",
                  lambda ev: ev["user"]["id"] == "stu" and ev["message"].get("disablechat"))
    with pytest.raises(ClientError) as e:
        await s2.room.sendMessage("muted")
    assert e.value.code == 4108
    with pytest.raises(ClientError) as e:
        await s.room.fetchUser("ghost")
    assert e.value.code == 104
    assert (await s.room.fetchUser("teach"))["properties"]["role"] == 0


async def test_evict(env):
    _, _, member = env
    t = await member("teach", 0)
    s = await member("stu")
    s2 = await member("stu2")
    with pytest.raises(ClientError) as e:
        await s2.room.evictUser("stu")
    assert e.value.code == 4108
    ended = s.room.events()
    await t.room.evictUser("stu", {"why": "noise"})
    ev = await s.wait("room-participant_evicted")
    assert ev["reason"] == {"why": "noise"} and ev["fromID"] == "teach"
    await s.wait("room-leaveroom")
    assert [e.type async for e in ended][-2:] == ["room-participant_evicted", "room-leaveroom"]
    assert s.room.state is State.IDLE
    await s2.wait("room-participant_leave", lambda ev: ev["id"] == "stu")
    with pytest.raises(ClientError) as e:
        await s.room.sendMessage("still here?")
    assert e.value.code == 2508


async def test_groups_and_group_codes(env):
    d, _, member = env
    s = await member("stu")
    users = await s.room.joinGroup("g1")
    assert [u["id"] for u in users] == ["stu"]
    assert s.room.getMySelf()["properties"]["group"] == "g1"
    await s.room.leaveGroup()
    with pytest.raises(ClientError) as e:
        await s.room.leaveGroup()
    assert e.value.code == 102
    with pytest.raises(JoinGroupError) as e:
        await s.room.joinGroup("nope")
    assert e.value.code == 2511 and e.value.server_code == 156
    assert (await s.wait("room-error-notice"))["code"] == 156
    d.group_delay = 2.0  # the store is slower than the node's group timeout (1 s)
    with pytest.raises(JoinGroupError) as e:
        await s.room.joinGroup("g1")
    assert e.value.server_code == 155


async def test_slow_server_is_2510(env):
    d, _, member = env
    s = await member("stu", request_timeout=0.3)
    d.group_delay = 0.8  # slower than the SDK waits, faster than the node gives up
    with pytest.raises(ClientError) as e:
        await s.room.joinGroup("g1")
    assert e.value.code == 2510
    assert e.value.message.startswith("Server exception")
    assert s.room.state is State.CONNECTED


async def test_server_refusals_keep_their_codes(env):
    _, server, member = env
    room = Room()
    room.init()
    with pytest.raises(ClientError) as e:
        await room.joinroomEx(server.url, "forged.ticket")
    assert e.value.code == 5301
    for i in range(3):
        await member(f"s{i}")
    with pytest.raises(ClientError) as e:
        await room.joinroomEx(server.url, ticket("r1", "s3"))
    assert e.value.code == 64
    assert room.state is State.IDLE


async def test_unreachable_signal_node_is_2600():
    room = Room()
    room.init(connect_timeout=3)
    fails = []
    room.on("room-connect-fail", fails.append)
    from test_client_local import closed_port

    with pytest.raises(ClientError) as e:
        await room.joinroomEx(f"ws://127.0.0.1:{closed_port()}/", ticket("r1", "u"))
    assert e.value.code == 2600
    assert e.value.message.startswith("Room link failed")
    assert fails[0]["code"] == 2600 and fails[0]["source"] == 0  # the socket


async def test_async_iterator_with_real_events(env):
    _, _, member = env
    t = await member("teach", 0)
    chats = t.room.events("room-text-message")
    s = await member("stu")
    await s.room.sendMessage("one")
    await asyncio.sleep(1.05)
    await s.room.sendMessage("two")
    got = []
    async for ev in chats:
        got.append(ev["message"])
        if len(got) == 2:
            break
    assert got == ["one", "two"]


async def test_users_of_a_stopped_node_resume_on_another():
    """Two nodes over one room state (as a cluster shares Redis): stopping one moves its
    users to the other by reconnection; nobody sees them leave and the room keeps its state."""
    from signal_helpers import SECRET
    from tkroom.signal.server import SignalServer
    from tkroom.state.memory import MemoryState

    d = MemoryDirectory(rooms={"r1": RoomInfo("r1", 1, "Room 1")})
    state = MemoryState()
    a = SignalServer("127.0.0.1", 0, d, state, SECRET, grace=10.0, sweep_interval=0.05)
    b = SignalServer("127.0.0.1", 0, d, state, SECRET, grace=10.0, sweep_interval=0.05)
    await a.start()
    await b.start()
    try:
        t = await join(b.url, "r1", "teach", 0)
        s = await join(a.url, "r1", "stu", 2, signal_urls=(b.url,), backoff_initial=0.05)
        await t.room.pubMsg(name="ClassBegin", id="ClassBegin", save=True)
        await s.wait("room-pubmsg")
        await a.stop()
        ev = await s.wait("room-reconnected", wait=20)
        assert ev["resumed"] is True
        await s.room.sendMessage("on node b now")
        await t.wait("room-text-message", lambda ev: ev["message"] == "on node b now")
        assert not t.named("room-participant_leave")
        assert [m["id"] for m in s.room.getMsgList()] == ["ClassBegin"]
        await s.room.leaveroom()
        await t.room.leaveroom()
    finally:
        await b.stop()


async def test_second_login_evicts_the_first_or_is_refused_with_5208(env):
    d, server, member = env
    first = await member("stu")
    second = await member("stu")
    ev = await first.wait("room-participant_evicted")
    assert ev["reason"] == {"code": 5208}
    await first.wait("room-leaveroom")
    assert first.room.state is State.IDLE
    assert second.room.state is State.CONNECTED
    d.rooms["solo"] = RoomInfo("solo", 1, "Solo", singlelogin=True)
    holder = await join(server.url, "solo", "u1")
    room = Room()
    room.init()
    with pytest.raises(ClientError) as e:
        await room.joinroomEx(server.url, ticket("solo", "u1"))
    assert e.value.code == 5208
    await holder.room.leaveroom()


async def test_big_room_mode_and_paged_users(env):
    d, server, _ = env
    d.rooms["big"] = RoomInfo("big", 1, "Big", bigroomthreshold=3)
    t = await join(server.url, "big", "teach", 0)
    members = [await join(server.url, "big", f"s{i}") for i in range(4)]
    try:
        ev = await t.wait("room-mode-changed")
        assert ev["mode"] == "bigRoom" and t.room.mode == "bigRoom"
        late = members[-1]
        assert late.room.mode == "bigRoom"
        assert set(late.room.getUsers()) == {"teach", "s3"}, "only super users are pushed"
        assert await late.room.getRoomUserNum() == 5
        assert await late.room.getRoomUserNum(roles=[2]) == 4
        page, total = await late.room.getRoomUsers(0, 2, roles=[2])
        assert total == 4 and len(page) == 2
        found, total = await late.room.getRoomUsers(0, 10, search="s2")
        assert [u["id"] for u in found] == ["s2"] and total == 1
        with pytest.raises(ClientError) as e:
            late.room.getUser("s0")
        assert e.value.code == 104  # not in the local copy of a big room...
        assert (await late.room.fetchUser("s0"))["id"] == "s0"  # ...but the server has it
        await t.room.changeUserPublish("s0", 3)  # on stage: pushed to everyone
        await late.wait("room-userproperty-changed", lambda ev: ev["user"]["id"] == "s0")
        assert late.room.getUser("s0")["properties"]["publishstate"] == 3
        await t.room.changeUserPublish("s0", 0)
        await late.wait("room-userproperty-changed",
                        lambda ev: ev["message"].get("publishstate") == 0)
        assert "s0" not in late.room.getUsers()
    finally:
        for w in (t, *members):
            await w.room.leaveroom()


async def test_join_limits_surface_with_the_servers_codes(env):
    d, server, member = env
    await member("teach", 0)
    d.rooms["live"] = RoomInfo("live", 1, "Live", allowsidelineuser=True, maxsidelineusers=1)
    d.rooms["gone"] = RoomInfo("gone", 1, "Gone", deleted=True)
    viewer = await join(server.url, "live", "v1", 3)
    cases = [(ticket("r1", "teach2", 0), 63),   # a second teacher
             (ticket("live", "v2", 3), 5011),   # live viewers beyond maxsidelineusers
             (ticket("gone", "u", 2), 3003),    # the room was deleted
             (ticket("nowhere", "u", 2), 4007)]
    try:
        for tk, code in cases:
            room = Room()
            room.init()
            with pytest.raises(ClientError) as e:
                await room.joinroomEx(server.url, tk)
            assert e.value.code == code
        with pytest.raises(ClientError) as e:  # a live viewer only watches
            await viewer.room.pubMsg(name="x", id="x", toID="__none")
        assert e.value.code == 4108
    finally:
        await viewer.room.leaveroom()


async def test_async_with_leaves_the_class(env):
    _, server, member = env
    t = await member("teach", 0)
    async with Room() as room:
        room.init()
        await room.joinroomEx(server.url, ticket("r1", "stu"))
        await t.wait("room-participant_join", lambda ev: ev["user"]["id"] == "stu")
    assert room.state is State.IDLE
    await t.wait("room-participant_leave", lambda ev: ev["id"] == "stu")
