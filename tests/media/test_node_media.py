"""The whole path: a node (HTTP + signalling + media plane), SDK rooms joined over WebSocket,
media through Janus, recordings listed by getrecordlist."""

from __future__ import annotations

import asyncio

import pytest

from client_node import PASSWORDS, running_node
from media.rtc import until
from tkroom.client import Room
from tkroom.client.media import MediaClient, attach
from tkroom.errors import CodeError
from tkroom.media.bridge import StateSink, attach_media
from tkroom.media.janus_process import JanusSettings
from tkroom.media.plane import MediaPlane, MediaSettings
from tkroom.media.recording import tools_available
from tkroom.store.records import RecordRepo

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
    async with running_node(tmp_path) as env:
        plane = MediaPlane(MediaSettings([janus.url], tmp_path / "media", embedded=False),
                           env.node.directory, StateSink(env.signal.state),
                           records=RecordRepo(env.node.sessions))
        attach_media(env.signal, plane.service)
        await plane.start()
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
            await plane.stop()
