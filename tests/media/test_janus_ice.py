"""``TKROOM_JANUS_ICE`` restricts the candidates the embedded Janus offers, or stops start-up.

Janus skips loopback when it applies ``ice_enforce_list``; a list that matches nothing else
left libnice to gather on every interface (IPv6 link-local included), so ``lo`` used to offer
every address of the machine. The node now refuses such a list."""

from __future__ import annotations

import pytest

from conftest import need_binary
from media.rtc import PatternTrack, local_sdp, peer
from tkroom.media.janus_client import JanusConnection
from tkroom.media.janus_process import JanusProcess, JanusSettings

pytestmark = pytest.mark.media


async def offered_addresses(enforce: str, workdir) -> set[str]:
    """Start the embedded Janus with ``enforce`` and return the addresses of the candidates
    in its answer to a publisher."""
    janus = JanusProcess(JanusSettings(workdir=workdir, ice_enforce_list=enforce,
                                       rtp_port_range="41000-41999"))
    await janus.start()
    pc = peer()
    try:
        conn = await JanusConnection.connect(janus.url, apisecret=janus.api_secret)
        session = await conn.create_session()
        handle = await session.attach()
        await handle.message({"request": "create", "room": "ice", "publishers": 2})
        await handle.message({"request": "join", "room": "ice", "ptype": "publisher",
                              "id": "a"})
        pc.addTrack(PatternTrack())
        _, answer = await handle.message({"request": "configure", "audio": False,
                                          "video": True}, await local_sdp(pc, offer=True))
        await session.destroy()
        await conn.close()
    finally:
        await pc.close()
        await janus.stop()
    return {line.split()[4] for line in answer["sdp"].split("\r\n")
            if line.startswith("a=candidate:")}


async def test_candidates_come_only_from_the_enforced_interface(in_netns, tmp_path) -> None:
    need_binary("janus")
    assert await offered_addresses("v1", tmp_path / "v1") == {in_netns.addr1}
    assert await offered_addresses(in_netns.addr0, tmp_path / "a0") == {in_netns.addr0}
    every = await offered_addresses("", tmp_path / "all")
    assert every == {in_netns.addr0, in_netns.addr1}  # no IPv6 link-local either


async def test_a_list_matching_no_usable_interface_stops_start_up(in_netns, tmp_path) -> None:
    need_binary("janus")
    for bad in ("lo", "127.0.0.1", "eth9"):
        janus = JanusProcess(JanusSettings(workdir=tmp_path / bad))
        janus.settings.ice_enforce_list = bad
        with pytest.raises(ValueError) as e:
            await janus.start()
        assert f"TKROOM_JANUS_ICE={bad!r} matches no interface" in str(e.value)
        assert "v0" in str(e.value) and "v1" in str(e.value)  # the interfaces it could name
        assert janus.proc is None  # Janus was never started
