"""Subscriptions answer Janus as the DTLS server, so Janus (not us) sends the first ClientHello.

Janus drops a ClientHello that arrives before its DTLS stack for the component exists, and
OpenSSL resends it only after 1 s: that was the 1.2 s first-frame tail in bench.media.
"""

from __future__ import annotations

import pytest

from media.rtc import FrameCounter, PatternTrack, local_sdp, peer, remote, until
from tkroom.client.media import answer_as_dtls_server
from tkroom.media.janus_client import JanusConnection
from tkroom.media.janus_process import JanusSettings

pytestmark = pytest.mark.media


async def test_subscriber_answer_is_passive_and_media_flows(in_netns, janus: JanusSettings) -> None:
    conn = await JanusConnection.connect(janus.url)
    session = await conn.create_session()
    admin = await session.attach()
    await admin.message({"request": "create", "room": "t-dtls", "publishers": 2,
                         "videocodec": "vp8"})
    pub = await session.attach()
    await pub.message({"request": "join", "room": "t-dtls", "ptype": "publisher", "id": "p"})
    pc = peer()
    pc.addTrack(PatternTrack())
    _, answer = await pub.message({"request": "configure", "audio": False, "video": True},
                                  await local_sdp(pc, offer=True))
    await pc.setRemoteDescription(remote(answer))
    await until(lambda: pc.connectionState == "connected", what="publisher connected")

    subs = []
    for _ in range(3):
        sub = await session.attach()
        _, offer = await sub.message({"request": "join", "room": "t-dtls", "ptype": "subscriber",
                                      "streams": [{"feed": "p"}]})
        assert "a=setup:actpass" in offer["sdp"]
        spc = peer()
        counters: list[FrameCounter] = []
        spc.on("track", lambda t, c=counters: c.append(FrameCounter(t)))
        ans = await answer_as_dtls_server(spc, offer)
        assert "a=setup:passive" in ans["sdp"] and "a=setup:active" not in ans["sdp"]
        started, _ = await sub.message({"request": "start"}, ans)
        assert started.get("started") == "ok"
        subs.append((spc, counters))
    for spc, counters in subs:
        await until(lambda c=counters: bool(c) and c[0].frames >= 5, what="5 decoded frames")
        assert spc.connectionState == "connected"
        for c in counters:
            await c.stop()
        await spc.close()
    await pc.close()
    await admin.message({"request": "destroy", "room": "t-dtls"})
    await session.destroy()
    await conn.close()
