"""A hostile student against a whole node (store and webhooks, signalling, the media plane on a
real Janus): it cannot begin the class, start the server recording, ban chat, switch the room
to audio-only or big-room mode, or take over the teacher's saved messages, and is told 4108
with a readable message each time."""

from __future__ import annotations

import httpx
import pytest

from client_node import PASSWORDS
from media.nodes import media_node
from media.rtc import until
from signal_helpers import Client, no_server_errors  # noqa: F401
from tkroom.client import Room
from tkroom.client.media import attach
from tkroom.media.janus_process import JanusSettings
from tkroom.media.plane import MediaPlane
from tkroom.rooms.board import PAGE_IDS
from webapi_nodes import Receiver

pytestmark = pytest.mark.media

CLASS_STATE = ("ClassBegin", "EveryoneBanChat", "OnlyAudioRoom", "BigRoom")
SHOW_PAGE = PAGE_IDS["ShowPage"]


async def test_a_student_cannot_take_over_the_class(in_netns, janus: JanusSettings,
                                                   tmp_path) -> None:
    rx = Receiver(failures=0)
    try:
        async with media_node(tmp_path, janus) as (env, plane):
            await hostile_student(env, plane, rx)
    finally:
        rx.close()


async def hostile_student(env, plane: MediaPlane, rx: Receiver) -> None:
    await env.webapi("companyattribute", roomstartcallbackurl=rx.url, roomendcallbackurl=rx.url)
    teacher = Room()
    teacher.init("app")
    tmedia = attach(teacher)
    try:
        await teacher.joinroom("127.0.0.1", env.port, "t1", "t1",
                               {"serial": env.serial, "password": PASSWORDS["chairmanpwd"]})
        shown = {"fileid": 0, "currpage": 3, "pagenum": 3, "filename": "", "filetype": ""}
        await teacher.pubMsg(name="ShowPage", id=SHOW_PAGE, toID="__all", save=True, data=shown)
        kept = await env.signal.state.messages(env.serial)
        assert [(m["id"], m["fromID"], m["data"]) for m in kept] == [(SHOW_PAGE, "t1", shown)]

        # the student does not use the polite SDK: raw frames with a real ticket
        async with httpx.AsyncClient(base_url=env.node.base_url) as http:
            checked = (await http.post("/ClientAPI/checkroom", data={
                "serial": env.serial, "nickname": "Mallory", "userid": "s1",
                "password": PASSWORDS["confuserpwd"]})).json()
        assert checked["roomrole"] == 2
        s = await Client.connect(env.signal.url)
        try:
            await s.join(checked["ticket"])
            hostile = {"toID": "__none", "save": True, "associatedUserID": "s1",
                       "data": {"record": True, "recordchat": True}}
            named = [(mid, mid) for mid in CLASS_STATE] + [("ShowPage", SHOW_PAGE)]
            for name, mid in named:
                ack = await s.req("pubMsg", {"name": name, "id": mid, **hostile})
                assert ack["code"] == 4108, ack
                assert ack["msg"].startswith("No permission: ") and name in ack["msg"]
            await unchanged(env, plane, kept)
            for name, mid in named:
                ack = await s.req("delMsg", {"name": name, "id": mid, "toID": "__none"})
                assert ack["code"] == 4108 and mid in ack["msg"], ack
            ack = await s.req("pubMsg", {"name": "x", "toID": ["t1", "s1"]})
            assert ack["code"] == 4108 and "one user id" in ack["msg"], ack
            assert (await s.req("sendMessage", {"message": "chat is still open"}))["code"] == 0
            await s.ok("leaveRoom")
        finally:
            await s.close()

        await unchanged(env, plane, kept)
        rec = await tmedia.startServerRecord()              # not 153: nothing was recording
        assert rec["recordId"]
        assert rx.bodies == []

        # the teacher's own ClassBegin fires the start callback: the receiver is listening
        await teacher.pubMsg(name="ClassBegin", id="ClassBegin", toID="__all", save=True,
                             data={})
        await until(lambda: len(rx.bodies) == 1, 30, "the start callback")
        assert rx.bodies[0]["serial"] == env.serial and rx.bodies[0]["classstate"] == "0"
        assert [c for c, _ in await env.node.directory.class_events(env.serial)] == [0]
        await tmedia.stopServerRecord()
        await teacher.leaveroom()
    finally:
        await tmedia.close()


async def unchanged(env, plane: MediaPlane, kept: list[dict]) -> None:
    """The class did not begin (no class event, so no webhook), the recording is not running,
    the room is not audio-only, and the room's saved messages (what a joiner gets) are only
    the teacher's, intact."""
    assert await env.node.directory.class_events(env.serial) == []
    room = plane.service.rooms.get(env.serial)
    assert room is None or (room.recording is None and not room.audio_only)
    assert await env.signal.state.messages(env.serial) == kept
