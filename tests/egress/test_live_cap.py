"""The cap on live rooms per node, without media: a class with viewers but no publishers still
streams its board, and a room over the cap gets its stream when a slot frees up."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from client_node import running_node
from conftest import need_binary
from egress.live_env import LIVE_PASSWORD, segments, wait_segments
from media.rtc import until
from tkroom.client import Room
from tkroom.client.errors import ClientError


async def viewer(env, serial: str, userid: str) -> tuple[Room, str]:
    async with httpx.AsyncClient(base_url=env.node.base_url, timeout=30) as http:
        body = (await http.post("/ClientAPI/checkroom", data={
            "serial": serial, "nickname": userid, "password": LIVE_PASSWORD, "userrole": "3",
            "userid": userid})).json()
    assert body["result"] == 0 and body["roomrole"] == 3, body
    room = Room()
    room.init("app")
    await room.joinroom("127.0.0.1", env.port, userid, userid,
                        {"serial": serial, "password": LIVE_PASSWORD, "userrole": 3})
    return room, body["pullinfo"]["hls"]


async def test_one_live_room_at_a_time(tmp_path) -> None:
    need_binary("ffmpeg")
    async with running_node(tmp_path, live_max_rooms=1, live_ports="52000-52099") as env:
        live = env.node.live
        a = await env.create_room(allowsidelineuser=1, sidelineuserpwd=LIVE_PASSWORD)
        b = await env.create_room(allowsidelineuser=1, sidelineuserpwd=LIVE_PASSWORD)
        none = await env.create_room()  # admits no live viewers: checkroom refuses role 3
        async with httpx.AsyncClient(base_url=env.node.base_url, timeout=30) as http:
            refused = (await http.post("/ClientAPI/checkroom", data={
                "serial": none, "nickname": "x", "password": LIVE_PASSWORD,
                "userrole": "3"})).json()
            assert refused["result"] == 4008 and "pullinfo" not in refused
            teacher = (await http.post("/ClientAPI/checkroom", data={
                "serial": a, "nickname": "t", "password": "teach1"})).json()
            assert teacher["roomrole"] == 0 and "pullinfo" not in teacher

            va, url_a = await viewer(env, a, "va")
            async with httpx.AsyncClient(timeout=30) as h:
                await wait_segments(h, url_a, 2, 60)
            vb, url_b = await viewer(env, b, "vb")
            await until(lambda: b in live.refused, 10, "room b over the cap")
            assert set(live.rooms) == {a}
            assert (await http.get(url_b)).status_code == 404
            await va.leaveroom()
            await until(lambda: set(live.rooms) == {b}, 20, "room b gets the slot")
            async with httpx.AsyncClient(timeout=30) as h:
                names = await wait_segments(h, url_b, 2, 60)
                assert segments((await h.get(url_b)).text) and names
            await vb.leaveroom()
            await until(lambda: not live.rooms, 20, "no live room left")


async def test_enterprise_rtmp_url(tmp_path) -> None:
    need_binary("ffmpeg")
    async with running_node(tmp_path, live_ports="52100-52199",
                            live_rtmp_url="rtmp://127.0.0.1:9/node/{serial}") as env:
        live = env.node.live
        async with httpx.AsyncClient(base_url=env.node.base_url, timeout=30) as http:
            bad = (await http.post("/WebAPI/companyattribute", data={
                "key": env.key, "livertmpurl": "http://example.org/x"})).json()
            assert bad["result"] == 6001
        a = await env.create_room(allowsidelineuser=1, sidelineuserpwd=LIVE_PASSWORD)
        va, _ = await viewer(env, a, "va")
        await until(lambda: a in live.rooms, 10, "live room")
        assert live.rooms[a].rtmp_url == f"rtmp://127.0.0.1:9/node/{a}"  # the node's
        await va.leaveroom()
        await until(lambda: not live.rooms, 20, "stopped")

        answer = await env.webapi("companyattribute", livertmpurl="rtmps://127.0.0.2:9/app/{serial}")
        assert answer["livertmpurl"] == "rtmps://127.0.0.2:9/app/{serial}"
        va, _ = await viewer(env, a, "va")
        await until(lambda: a in live.rooms, 10, "live room")
        assert live.rooms[a].rtmp_url == f"rtmps://127.0.0.2:9/app/{a}"  # the school's
        await va.leaveroom()
        await until(lambda: not live.rooms, 20, "stopped")


async def test_a_viewer_joining_a_big_room_silently_gets_a_stream(tmp_path) -> None:
    """Past ``bigroomthreshold`` a live viewer's join is announced to nobody; the stream still
    starts."""
    need_binary("ffmpeg")
    async with running_node(tmp_path, live_ports="52200-52299") as env:
        live = env.node.live
        a = await env.create_room(allowsidelineuser=1, sidelineuserpwd=LIVE_PASSWORD,
                                  bigroomthreshold=1)
        first = Room()
        first.init("app")
        await first.joinroom("127.0.0.1", env.port, "s1", "s1",
                             {"serial": a, "password": "stud1"})
        second = Room()
        second.init("app")
        await second.joinroom("127.0.0.1", env.port, "s2", "s2",
                              {"serial": a, "password": "stud1"})  # now a big room
        await until(lambda: a in env.signal.rooms, 5, "room served")
        await asyncio.sleep(1.0)  # the first look at the room (no viewer) is over
        va, url = await viewer(env, a, "va")
        await asyncio.sleep(0.5)
        with pytest.raises(ClientError):  # a big room announces no viewer's join
            first.getUser("va")
        await until(lambda: a in live.rooms, 15, "the stream starts without an announced join")
        async with httpx.AsyncClient(timeout=30) as h:
            await wait_segments(h, url, 2, 60)
        await va.leaveroom()
        await until(lambda: not live.rooms, 20, "stopped")
        await first.leaveroom()
        await second.leaveroom()
