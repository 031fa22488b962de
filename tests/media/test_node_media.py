"""The whole path: a node (HTTP + signalling + media plane), SDK rooms joined over WebSocket,
media through Janus, recordings listed by getrecordlist."""

from __future__ import annotations

import asyncio

import pytest

from client_node import PASSWORDS, NodeEnv, free_port
from conftest import need_binary
from media.nodes import media_node
from media.rtc import until
from tkroom.client import Room
from tkroom.client.media import MediaClient, attach
from tkroom.config import Settings
from tkroom.errors import CodeError
from tkroom.media.janus_client import JanusError
from tkroom.media.janus_process import JanusSettings
from tkroom.media.plane import install_media
from tkroom.media.recording import tools_available
from tkroom.media.servers import static_name
from tkroom.media.videoroom import VideoRoom
from tkroom.node import Node
from tkroom.signal.server import SignalServer
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company

pytestmark = pytest.mark.media


async def join(env, userid: str, password: str) -> tuple[Room, MediaClient]:
    room = Room()
    room.init("app")
    media = attach(room)
    await room.joinroom("127.0.0.1", env.port, userid, userid,
                        {"serial": env.serial, "password": password})
    return room, media


@pytest.mark.skipif(not tools_available(), reason="janus-pp-rec / ffmpeg missing")
async def test_classroom_media_through_a_node(in_netns, janus: JanusSettings, tmp_path) -> None:
    async with media_node(tmp_path, janus) as (env, plane):
        try:
            teacher, tmedia = await join(env, "t1", PASSWORDS["chairmanpwd"])
            student, smedia = await join(env, "s1", PASSWORDS["confuserpwd"])

            with pytest.raises(CodeError) as e:  # not on stage yet
                await smedia.publishVideo()
            assert e.value.extra["reason"] == 4108
            await teacher.changeUserPublish("s1", 3)
            await until(lambda: student.getUser("s1") is not None and
                        student.getUser("s1")["properties"]["publishstate"] == 3,
                        what="on stage")
            await smedia.publishVideo()
            await smedia.publishAudio()
            await tmedia.waitForStream("s1", "video")
            v = await tmedia.playVideo("s1")
            await until(lambda: v.frames_received > 30, 20, "frames at the teacher")
            await until(lambda: 2001 in [n["code"] for n in smedia.notices], what="2001")
            await until(lambda: 2002 in [n["code"] for n in tmedia.notices], what="2002")

            rec = await tmedia.startServerRecord()
            await asyncio.sleep(2.5)
            await tmedia.stopServerRecord()
            await asyncio.wait_for(asyncio.gather(*plane.service.postprocessing), 120)
            records = (await env.webapi("getrecordlist", serial=env.serial))["recordlist"]
            assert {(r["kind"], r["userid"]) for r in records} == {("publisher", "s1"),
                                                                  ("mixed", "")}
            assert all(r["size"] > 0 and 1500 < r["duration_ms"] < 6000 for r in records)
            assert all(r["starttime"] == rec["starttime"] // 1000 for r in records)

            await teacher.changeUserPublish("s1", 1)  # audio only: the camera goes
            await until(lambda: "s1:video:default" not in tmedia.available, 10, "video off")
            await until(lambda: ("video", "default") not in smedia.local, 10, "SDK stopped it")
            assert "s1:audio:default" in tmedia.available

            await student.leaveroom()
            await until(lambda: "s1:audio:default" not in tmedia.available, 10, "gone on leave")
            await teacher.leaveroom()
        finally:
            await tmedia.close()
            await smedia.close()


async def test_serve_wiring_embedded_janus_and_registered_servers(in_netns, janus: JanusSettings,
                                                                  tmp_path) -> None:
    """``install_media`` as ``tkroom serve`` uses it: the node's own Janus, plus a server the
    Web API registers (``serveradd`` with a url), picked up by the registry sync."""
    need_binary("janus")
    sp = free_port()
    node = Node(Settings(host="127.0.0.1", port=0, signal_port=sp, data_dir=tmp_path,
                         throttle_base_s=0.001, throttle_max_s=0.01, janus_ice="v0",
                         rtp_ports="45000-49999"))
    sig = SignalServer("127.0.0.1", sp, node.directory, MemoryState(), node.secret)
    node.services.append(sig)
    plane = install_media(node, sig)
    plane.sync_every = 0.2
    await node.start()
    try:
        assert plane.janus is not None and plane.janus.proc.returncode is None
        async with node.sessions() as s:
            c = await create_company(s, "School")
            await s.commit()
        env = NodeEnv(node, sig, c.authkey)
        env.serial = await env.create_room(maxusers=5)
        await env.webapi("serveradd", ip="127.0.0.1", name="second", maxusers=50,
                         url=janus.url)
        teacher, tmedia = await join(env, "t1", PASSWORDS["chairmanpwd"])
        await until(lambda: "second" in plane.registry.servers and
                    plane.registry.servers["second"].healthy, 10, "registered server")
        await tmedia.publishVideo()
        listing = await tmedia.requestServerList()
        assert {s["serverName"] for s in listing["servers"]} == {"embedded", "second"}
        assert listing["current"] == "second"  # the enterprise's own server before the operator's
        await tmedia.switchServerByName("embedded")
        assert (await tmedia.requestServerList())["current"] == "embedded"
        await until(lambda: "t1:video:default" in tmedia.available, 15, "republished on embedded")
        await tmedia.close()
        await teacher.leaveroom()
    finally:
        await node.stop()


@pytest.mark.skipif(not tools_available(), reason="janus-pp-rec / ffmpeg missing")
async def test_recording_saved_before_any_media_request(in_netns, janus: JanusSettings,
                                                        tmp_path) -> None:
    """The browser SDK's startServerRecord is a saved ClassBegin (``record: true``) sent before
    anyone publishes: the media plane follows the room from the first join, so it records."""
    async with media_node(tmp_path, janus) as (env, plane):
        try:
            teacher, tmedia = await join(env, "t1", PASSWORDS["chairmanpwd"])
            await teacher.pubMsg(name="ClassBegin", id="ClassBegin", toID="__all", save=True,
                                 data={"record": True, "recordtype": "0"})
            student, smedia = await join(env, "s1", PASSWORDS["confuserpwd"])
            await teacher.changeUserPublish("s1", 3)
            await until(lambda: student.getUser("s1")["properties"]["publishstate"] == 3,
                        what="on stage")
            await smedia.publishVideo()
            await smedia.publishAudio()
            await tmedia.waitForStream("s1", "video")
            v = await tmedia.playVideo("s1")
            await until(lambda: v.frames_received > 30, 20, "frames at the teacher")
            await tmedia.stopServerRecord()  # 153 (not recording) before the fix
            await asyncio.wait_for(asyncio.gather(*plane.service.postprocessing), 120)
            records = (await env.webapi("getrecordlist", serial=env.serial))["recordlist"]
            assert {(r["kind"], r["userid"]) for r in records} == {("publisher", "s1"),
                                                                  ("mixed", "")}
            assert all(r["size"] > 0 for r in records)
            await student.leaveroom()
            await teacher.leaveroom()
        finally:
            await tmedia.close()
            await smedia.close()


async def test_audio_only_saved_early_and_an_inspector_leaving(in_netns, janus: JanusSettings,
                                                                tmp_path) -> None:
    """OnlyAudioRoom saved before any media request is honoured; an inspector (who leaves
    without any participantLeft) gets its subscription and Janus handle released."""
    async with media_node(tmp_path, janus) as (env, plane):
        try:
            teacher, tmedia = await join(env, "t1", PASSWORDS["chairmanpwd"])
            inspector, imedia = await join(env, "p1", PASSWORDS["patrolpwd"])
            assert inspector.getMySelf()["properties"]["role"] == 4
            await teacher.pubMsg(name="OnlyAudioRoom", id="OnlyAudioRoom", toID="__all",
                                 save=True, data={})
            await until(lambda: env.serial in plane.service.rooms and
                        plane.service.rooms[env.serial].audio_only, 10, "audio-only known")
            with pytest.raises(CodeError) as e:
                await tmedia.publishVideo()
            assert e.value.extra["reason"] == 4108
            await tmedia.publishAudio()

            a = await imedia.playAudio("t1")
            await until(lambda: a.frames_received > 10, 20, "audio at the inspector")
            room = plane.service.rooms[env.serial]
            subs = [s for s in room.subs.values() if s.userid == "p1"]
            assert len(subs) == 1
            handle = subs[0].handle
            assert handle.id in room.videoroom.session.handles
            load = room.server.load
            videoroom = room.videoroom

            await inspector.leaveroom()
            await until(lambda: not [s for s in room.subs.values() if s.userid == "p1"], 10,
                        "the inspector's subscription released")
            assert handle.id not in videoroom.session.handles
            assert videoroom.server.load == load - 1
            with pytest.raises(JanusError):  # Janus no longer knows the handle
                await handle.message({"request": "listparticipants", "room": videoroom.id})
            assert "t1:audio:default" in room.pubs
            await teacher.leaveroom()
        finally:
            await tmedia.close()
            await imedia.close()


async def test_roommodify_maxvideo_reaches_media_and_rooms_are_released(
        in_netns, janus: JanusSettings, tmp_path) -> None:
    """A roommodify of ``maxvideo`` holds for the next publish, and the media room (with its
    Janus room) is released when the class's last member leaves."""
    async with media_node(tmp_path, janus) as (env, plane):
        try:
            env.serial = await env.create_room(maxvideo=1)
            teacher, tmedia = await join(env, "t1", PASSWORDS["chairmanpwd"])
            assistant, amedia = await join(env, "a1", PASSWORDS["assistantpwd"])
            await tmedia.publishVideo()
            with pytest.raises(CodeError) as e:
                await amedia.publishVideo()
            assert e.value.extra["reason"] == 133
            await env.webapi("roommodify", serial=env.serial, maxvideo=2)
            await amedia.publishVideo()  # 133 again before the fix: the room info was cached
            await env.webapi("roommodify", serial=env.serial, maxvideo=1)
            await amedia.unpublishVideo()
            with pytest.raises(CodeError) as e:
                await amedia.publishVideo()
            assert e.value.extra["reason"] == 133

            server = plane.registry.servers[static_name(janus.url)]

            async def janus_rooms() -> list[str]:
                return [r.description for r in await VideoRoom.rooms(server)]

            assert env.serial in await janus_rooms()
            await amedia.publishAudio()
            await tmedia.waitForStream("a1", "audio")
            await assistant.leaveroom()
            await until(lambda: "a1:audio:default" not in tmedia.available, 10, "a1 gone")
            assert [s["streamId"] for s in await tmedia.getStreams()] == ["t1:video:default"]
            assert env.serial in await janus_rooms()  # the teacher is still there
            await teacher.leaveroom()
            await until(lambda: not plane.service.rooms, 10, "media rooms released")
            assert env.serial not in await janus_rooms()
        finally:
            await tmedia.close()
            await amedia.close()
