"""The Janus WebSocket client against a real Janus, with real media through VideoRoom."""

from __future__ import annotations

import pytest

from media.rtc import FrameCounter, PatternTrack, local_sdp, peer, remote, until
from tkroom.media.janus_client import JanusConnection, JanusError
from tkroom.media.janus_process import JanusSettings

pytestmark = pytest.mark.media


async def wait_connected(pc, within: float = 10.0) -> None:
    await until(lambda: pc.connectionState == "connected", within, "ICE connected")


async def test_info_session_and_errors(in_netns, janus: JanusSettings) -> None:
    conn = await JanusConnection.connect(janus.url)
    info = await conn.info()
    assert "janus.plugin.videoroom" in info["plugins"]
    assert list(info["transports"]) == ["janus.transport.websockets"]
    session = await conn.create_session()
    handle = await session.attach()
    with pytest.raises(JanusError) as e:
        await handle.message({"request": "join", "room": "no-such-room", "ptype": "publisher"})
    assert e.value.code == 426  # JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM
    with pytest.raises(JanusError):
        await conn.request({"janus": "attach", "session_id": 42, "plugin": "x"})
    await session.destroy()
    await conn.close()
    assert not conn.is_open


async def test_publish_and_subscribe_real_frames(in_netns, janus: JanusSettings) -> None:
    conn = await JanusConnection.connect(janus.url)
    session = await conn.create_session()
    admin = await session.attach()
    data, _ = await admin.message({"request": "create", "room": "t-client", "bitrate": 2_000_000,
                                   "publishers": 4, "videocodec": "vp8"})
    assert data["videoroom"] == "created"

    pub = await session.attach()
    joined, _ = await pub.message({"request": "join", "room": "t-client", "ptype": "publisher",
                                   "id": "alice"})
    assert joined["videoroom"] == "joined"
    pc = peer()
    pc.addTrack(PatternTrack())
    offer = await local_sdp(pc, offer=True)
    conf, answer = await pub.message({"request": "configure", "audio": False, "video": True}, offer)
    assert conf.get("configured") == "ok" and answer and answer["type"] == "answer"
    await pc.setRemoteDescription(remote(answer))
    await wait_connected(pc)

    sub = await session.attach()
    att, offer2 = await sub.message({"request": "join", "room": "t-client", "ptype": "subscriber",
                                     "streams": [{"feed": "alice"}]})
    assert att["videoroom"] == "attached" and offer2
    spc = peer()
    counters: list[FrameCounter] = []
    spc.on("track", lambda t: counters.append(FrameCounter(t)))
    await spc.setRemoteDescription(remote(offer2))
    ans = await local_sdp(spc, offer=False)
    started, _ = await sub.message({"request": "start"}, ans)
    assert started.get("started") == "ok"
    await until(lambda: counters and counters[0].frames >= 30, what="30 frames")
    assert counters[0].size == (640, 480)
    for c in counters:
        await c.stop()
    await spc.close()
    await pc.close()
    await admin.message({"request": "destroy", "room": "t-client"})
    await session.destroy()
    await conn.close()


async def test_api_secret_is_required_when_set(in_netns, tmp_path) -> None:
    from tkroom.media.janus_process import JanusProcess

    proc = JanusProcess(JanusSettings(workdir=tmp_path / "j", ice_enforce_list="v0",
                                      rtp_port_range="45000-45999"))
    await proc.start()
    try:
        anonymous = await JanusConnection.connect(proc.url)
        with pytest.raises(JanusError) as e:
            await anonymous.create_session()
        assert e.value.code == 403  # JANUS_ERROR_UNAUTHORIZED
        await anonymous.close()
        conn = await JanusConnection.connect(proc.url, apisecret=proc.api_secret)
        session = await conn.create_session()
        await session.destroy()
        await conn.close()
    finally:
        await proc.stop()
