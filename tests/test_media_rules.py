"""The media rules and the embedded Janus configuration, without Janus."""

from __future__ import annotations

import pytest

from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.media.janus_process import JanusSettings, write_config
from tkroom.media.rules import (
    StreamKey,
    check_claim,
    check_publish,
    check_super,
    check_unpublish,
    requested_key,
    room_bitrate,
    stage_allows,
)
from tkroom.media.servers import MediaServer, ServerRegistry, from_row
from tkroom.rooms import streams

ROOM = RoomInfo("r", 1, maxvideo=2, maxaudio=1)


def code(fn) -> int:
    with pytest.raises(CodeError) as e:
        fn()
    return e.value.code


def test_publish_rules() -> None:
    v = StreamKey("a", "video")
    assert code(lambda: check_publish(ROOM, 3, v, [], audio_only=False)) == 4108
    assert code(lambda: check_publish(ROOM, 4, v, [], audio_only=False)) == 4108
    assert code(lambda: check_publish(ROOM, 2, v, [], audio_only=True)) == 4108
    assert code(lambda: check_publish(ROOM, 2, StreamKey("a", "hologram"), [],
                                      audio_only=False)) == 103
    assert code(lambda: check_publish(ROOM, 2, v, [v], audio_only=False)) == 2601
    cams = [StreamKey("a", "video", f"c{i}") for i in range(3)]
    big = RoomInfo("r", 1, maxvideo=10)
    assert code(lambda: check_publish(big, 2, StreamKey("a", "video", "c9"), cams,
                                      audio_only=False)) == 2601
    others = [StreamKey("b", "video"), StreamKey("c", "screen")]
    check_publish(ROOM, 2, v, others, audio_only=False)  # room-wide: the claims' (below)
    check_publish(ROOM, 2, StreamKey("a", "audio"), others, audio_only=True)
    assert code(lambda: check_publish(ROOM, 2, v, [], audio_only=False, publishstate=0)) == 4108
    check_publish(ROOM, 0, v, [], audio_only=False, publishstate=0)  # teachers are on stage


@pytest.mark.parametrize(("state", "allowed"), [(0, set()), (1, {"audio"}),
                                                (2, {"video", "screen"}),
                                                (3, {"audio", "video", "screen", "media"}),
                                                (4, {"audio", "video", "screen", "media"})])
def test_publishstate(state: int, allowed: set[str]) -> None:
    for t in ("audio", "video", "screen", "media"):
        assert stage_allows(2, state, StreamKey("s", t)) == (t in allowed)
        assert stage_allows(1, state, StreamKey("s", t))


def test_who_withdraws_records_and_moves() -> None:
    mine = StreamKey("s", "video")
    check_unpublish(2, "s", mine)
    check_unpublish(1, "t", mine)  # an assistant takes a student's camera down
    assert code(lambda: check_unpublish(2, "other", mine)) == 4108
    check_super(0, "records the class")
    assert code(lambda: check_super(2, "records the class")) == 4108
    assert code(lambda: check_super(4, "moves the room")) == 4108
    assert requested_key("s", {}) == mine
    assert requested_key("s", {"type": "screen", "deviceId": ""}) == StreamKey("s", "screen")


def test_bitrate_is_realistic() -> None:
    assert room_bitrate(RoomInfo("r", 1, videotype=2)) == 2_000_000
    assert room_bitrate(RoomInfo("r", 1, videotype=0)) < room_bitrate(RoomInfo("r", 1, videotype=4))


def test_janus_config_loads_only_what_tkroom_needs(tmp_path) -> None:
    s = JanusSettings(workdir=tmp_path, ws_port=18188, ice_enforce_list="eth1",
                      rtp_port_range="30000-30100")
    cfg = write_config(s)
    main = (cfg / "janus.jcfg").read_text()
    assert 'ice_enforce_list = "eth1"' in main and 'rtp_port_range = "30000-30100"' in main
    assert f'api_secret = "{s.api_secret}"' in main and len(s.api_secret) == 32
    assert [p.name for p in (tmp_path / "plugins").iterdir()] == ["libjanus_videoroom.so"]
    assert [p.name for p in (tmp_path / "transports").iterdir()] == ["libjanus_websockets.so"]
    ws = (cfg / "janus.transport.websockets.jcfg").read_text()
    assert 'ws_ip = "127.0.0.1"' in ws and "ws_port = 18188" in ws
    assert sorted(p.name for p in cfg.iterdir()) == [
        "janus.jcfg", "janus.plugin.videoroom.jcfg", "janus.transport.websockets.jcfg"]


def test_least_loaded_placement_and_registry_rows() -> None:
    reg = ServerRegistry()
    a = MediaServer("a", "ws://x", capacity=100, load=50, healthy=True)
    b = MediaServer("b", "ws://y", capacity=10, load=2, healthy=True)
    c = MediaServer("c", "ws://z", capacity=1000, load=0, healthy=False)
    reg.servers = {s.id: s for s in (a, b, c)}
    assert reg.pick().id == "b"  # 80 % free beats 50 % free; c is down
    assert reg.pick(need=9).id == "a"
    assert code(lambda: reg.pick(need=60)) == 151
    row = from_row({"serverid": 7, "name": "cn", "ip": "10.0.0.7", "url": "", "maxusers": 300})
    assert (row.id, row.url, row.capacity) == ("cn", "ws://10.0.0.7:8188", 300)



def test_a_refused_claim_answers_as_the_room_limits_always_did() -> None:
    room = RoomInfo("r", 1, maxvideo=2, maxaudio=3)
    v = StreamKey("a", "video")
    check_claim(room, v, None)
    with pytest.raises(CodeError) as e:
        check_claim(room, v, streams.VIDEO_FULL)
    assert e.value.code == 133
    assert "at most 2 video streams" in str(e.value)
    with pytest.raises(CodeError) as e:
        check_claim(room, StreamKey("a", "audio"), streams.AUDIO_FULL)
    assert e.value.code == 133 and "at most 3 audio streams" in str(e.value)
    assert code(lambda: check_claim(room, v, streams.TAKEN)) == 2601


def test_a_claim_of_ones_own_stream_on_another_node_is_taken_over() -> None:
    """The rule the Redis script mirrors: the user's session moved to node B (A was killed)."""
    claims = {"t:video:default": streams.StreamClaim("t", "A", True, False),
              "u:video:default": streams.StreamClaim("u", "A", True, False)}
    moved = streams.StreamClaim("t", "B", True, False)
    assert streams.claim(claims, "t:video:default", moved, 2, 0) is None  # not "video": replaces
    assert claims["t:video:default"] == moved
    assert streams.claim(claims, "t:video:default", moved, 5, 0) == streams.TAKEN  # same node
    other = streams.StreamClaim("x", "C", True, False)
    assert streams.claim(claims, "t:video:default", other, 5, 0) == streams.TAKEN  # another user
    back = streams.StreamClaim("t", "A", True, False)
    assert streams.claim(claims, "t:video:default", back, -1, 0, take_over=False) == streams.TAKEN
    assert claims["t:video:default"] == moved
