"""The SDK through a whole node, as an application uses it: HTTP checkroom/getconfig, then the
socket; passwords and login keys; reconnection (resume, full rejoin, giving up); the example bot."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
import websockets

from client_helpers import Watched
from client_node import running_node
from tkroom.client import ClientError, Room, State
from tkroom.signal.server import SignalServer
from tkroom.state.memory import MemoryState

ROOT = Path(__file__).resolve().parent.parent


async def enter(env, nickname: str, userid: str, password: str, **opts) -> Watched:
    room = Room()
    room.init("app", **opts)
    w = Watched(room)
    await room.joinroom("127.0.0.1", env.port, nickname, userid,
                        {"serial": env.serial, "password": password})
    return w


async def test_password_decides_the_role(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "Teacher", "t1", "teach1")
        s = await enter(env, "Ann", "s1", "stud1")
        assert t.room.getMySelf()["properties"]["role"] == 0
        assert s.room.getMySelf()["properties"]["role"] == 2
        assert s.room.getMySelf()["properties"]["nickname"] == "Ann"
        await t.wait("room-participant_join", lambda ev: ev["user"]["id"] == "s1")
        await s.room.sendMessage("hi teacher")
        got = await t.wait("room-text-message")
        assert (got["userid"], got["nickname"], got["role"]) == ("s1", "Ann", 2)
        await s.room.leaveroom()
        await t.room.leaveroom()


async def test_login_key(tmp_path):
    async with running_node(tmp_path) as env:
        key = (await env.webapi("getloginkey", serial=env.serial, usertype=1, username="Helper",
                                userid="a1"))["loginkey"]
        room = Room()
        room.init()
        await room.joinroom("127.0.0.1", env.port, "Helper", None,
                            {"serial": env.serial, "loginkey": key})
        me = room.getMySelf()
        assert me["id"] == "a1" and me["properties"]["role"] == 1
        await room.leaveroom()


async def test_login_key_codes_on_the_socket_follow_the_seed(tmp_path):
    """5300 "the 40-character login key is required": none given; 5301 "the 40-character key
    is incorrect": one given that is malformed, unknown or expired."""
    async with running_node(tmp_path) as env:
        key = (await env.webapi("getloginkey", serial=env.serial, usertype=2, username="Ann",
                                userid="s1"))["loginkey"]
        url = f"ws://127.0.0.1:{env.signal.port}/"
        async with websockets.connect(url) as ws:
            async def code(data: dict) -> int:
                await ws.send(json.dumps({"id": 1, "ev": "joinRoom", "data": data}))
                return json.loads(await ws.recv())["code"]

            assert await code({"serial": env.serial}) == 5300
            assert await code({"serial": env.serial, "loginkey": ""}) == 5300
            assert await code({"serial": env.serial, "loginkey": "short"}) == 5301
            assert await code({"serial": env.serial, "loginkey": 7}) == 5301
            assert await code({"serial": env.serial, "loginkey": "g" * 40}) == 5301
            assert await code({"serial": env.serial, "loginkey": "0" * 40}) == 5301
            assert await code({"serial": env.serial, "loginkey": key}) == 0


async def test_wrong_password_keeps_the_servers_code(tmp_path):
    async with running_node(tmp_path) as env:
        room = Room()
        room.init()
        fails = []
        room.on("room-connect-fail", fails.append)
        with pytest.raises(ClientError) as e:
            await room.joinroom("127.0.0.1", env.port, "X", "x", {"serial": env.serial,
                                                                   "password": "wrong1"})
        assert e.value.code == 4008
        assert fails[0]["code"] == 4008 and fails[0]["source"] == 3  # checkroom
        with pytest.raises(ClientError) as e:
            await room.joinroom("127.0.0.1", env.port, "X", "x", {"serial": "999", "password": "a"})
        assert e.value.code == 4007
        assert room.state is State.IDLE


async def test_signalling_down_is_2600(tmp_path):
    async with running_node(tmp_path, signal=False) as env:
        room = Room()
        room.init(connect_timeout=3)
        with pytest.raises(ClientError) as e:
            await room.joinroom("127.0.0.1", env.port, "X", "x", {"serial": env.serial,
                                                                   "password": "stud1"})
        assert e.value.code == 2600


async def test_dropped_socket_resumes_without_anyone_noticing(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "Teacher", "t1", "teach1")
        s = await enter(env, "Ann", "s1", "stud1")
        await t.room.pubMsg(name="page", id="page", save=True, data={"n": 1})
        await s.wait("room-pubmsg", lambda ev: ev["data"] == {"n": 1})
        s.room.drop_connection()
        for n in (2, 3, 4):  # sent while Ann's socket is down or coming back
            await t.room.pubMsg(name="page", id="page", save=True, data={"n": n})
        await t.room.sendMessage("are you there?")
        ev = await s.wait("room-reconnected")
        assert ev["resumed"] is True
        assert s.named("room-reconnecting")[0]["number"] == 1
        await s.wait("room-text-message", lambda ev: ev["message"] == "are you there?")
        pages = [ev["data"]["n"] for ev in s.named("room-pubmsg")]
        assert pages == [1, 2, 3, 4], "every missed message once, in order"
        assert s.room.getMsgList()[0]["data"] == {"n": 4}
        await s.room.sendMessage("yes")
        await t.wait("room-text-message", lambda ev: ev["message"] == "yes")
        assert not t.named("room-participant_leave") and len(t.named("room-participant_join")) == 1
        await s.room.leaveroom()
        await t.room.leaveroom()


async def test_lost_session_rejoins_with_a_fresh_checkroom(tmp_path):
    async with running_node(tmp_path) as env:
        s = await enter(env, "Ann", "s1", "stud1", backoff_initial=0.05, backoff_max=0.2)
        t = await enter(env, "Teacher", "t1", "teach1", reconnect=False)
        await s.wait("room-participant_join", lambda ev: ev["user"]["id"] == "t1")
        gid = str((await env.webapi("groupcreate", serial=env.serial, groupname="Red"))["groupid"])
        await s.room.joinGroup(gid)
        # the signalling server restarts with empty memory: every session is forgotten
        old = env.signal
        assert old is not None
        await old.stop()
        assert (await t.wait("room-disconnected"))["code"] == 2508  # reconnect=False: gives up
        new = SignalServer("127.0.0.1", old.port, env.node.directory, MemoryState(),
                           env.node.secret, sweep_interval=0.05)
        await new.start()
        env.node.services.append(new)
        ev = await s.wait("room-reconnected", wait=20)
        assert ev["resumed"] is False
        left = await s.wait("room-participant_leave")
        assert left["id"] == "t1", "the teacher did not come back: the fresh state says so"
        assert set(s.room.getUsers()) == {"s1"}
        assert s.room.getMySelf()["properties"]["group"] == gid, "back in the group it was in"
        assert (await s.room.fetchUser("s1"))["properties"]["group"] == gid
        await s.room.sendMessage("back")
        await s.room.leaveroom()


async def test_reconnect_gives_up_with_2602(tmp_path):
    async with running_node(tmp_path) as env:
        s = await enter(env, "Ann", "s1", "stud1", max_reconnect_attempts=3,
                        backoff_initial=0.05, backoff_max=0.1, connect_timeout=2)
        ended = s.room.events()
        assert env.signal is not None
        await env.signal.stop()
        notice = await s.wait("room-error-notice", lambda ev: ev["code"] == 2602, wait=20)
        assert "3 attempts" in notice["msg"]
        assert [ev["number"] for ev in s.named("room-reconnecting")] == [1, 2, 3]
        assert (await s.wait("room-disconnected"))["code"] == 2602
        assert [e.type async for e in ended][-1] == "room-disconnected"
        assert s.room.state is State.IDLE
        with pytest.raises(ClientError) as e:
            await s.room.sendMessage("anyone?")
        assert e.value.code == 2508


async def test_example_bot_answers_and_leaves(tmp_path):
    async with running_node(tmp_path) as env:
        t = await enter(env, "Teacher", "t1", "teach1")
        env_vars = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        bot = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "examples" / "bot.py"), "--port", str(env.port),
            "--serial", env.serial, "--password", "stud1", "--lifetime", "60",
            env=env_vars, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            await t.wait("room-participant_join", lambda ev: ev["user"]["id"] == "timebot", wait=30)
            await t.room.sendMessage("!time")
            ev = await t.wait("room-text-message", lambda ev: ev["userid"] == "timebot")
            assert ev["message"].startswith("It is ")
            await asyncio.sleep(1.1)  # the bot is a student: one chat a second
            await t.room.sendMessage("!bye")
            await t.wait("room-participant_leave", lambda ev: ev["id"] == "timebot", wait=20)
            assert await asyncio.wait_for(bot.wait(), 20) == 0
        finally:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
        await t.room.leaveroom()
