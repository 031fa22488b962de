"""The live plan without sockets: tracks of a Janus answer, where videos go, the receiver's
SDP and the ffmpeg command."""

from __future__ import annotations

from pathlib import Path

from tkroom.egress.live_plan import (
    Output,
    Stream,
    ffmpeg_argv,
    receiver_sdp,
    tiles,
    tracks,
)
from tkroom.rooms.scene import SceneBuilder

ANSWER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 198.18.0.1", "s=VideoRoom", "t=0 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 198.18.0.1", "a=recvonly", "a=mid:0",
    "a=rtpmap:111 opus/48000/2",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 198.18.0.1", "a=recvonly", "a=mid:1",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000",
    "m=video 0 UDP/TLS/RTP/SAVPF 0", "a=inactive", "a=mid:2", ""])


def test_tracks_of_an_answer() -> None:
    assert tracks(ANSWER) == [("audio", "0", "opus"), ("video", "1", "VP8")]
    assert tracks("") == []


def scene_with(*videos: tuple[str, str, str, int], layout: int = 0):
    """A scene whose tracks are ``(userid, key, type, role)``."""
    b = SceneBuilder()
    b.apply({"kind": "start", "t": 0, "room": {"roomlayout": layout},
             "members": [{"id": u, "properties": {"role": r, "publishstate": 3}}
                         for u, _, _, r in videos], "saved": []})
    for u, key, kind, _ in videos:
        b.apply({"kind": "track", "t": 0, "userid": u, "stream_id": key, "type": kind,
                 "file": key, "on": True})
    return b.scene(0)


def stream(key: str, userid: str, source: str = "video") -> Stream:
    feed, mid = key.split("/")
    return Stream(feed, mid, "video", source, "VP8", userid, port=50000)


def test_tiles_follow_the_layouts() -> None:
    out = Output()
    streams = {"a/0": stream("a/0", "teacher"), "b/0": stream("b/0", "s1"),
               "c/0": stream("c/0", "s1", "screen")}
    scene = scene_with(("s1", "b/0", "video", 2), ("teacher", "a/0", "video", 0),
                       ("s1", "c/0", "screen", 2))
    placed = [(s.key, (r.x, r.y, r.w, r.h)) for s, r in tiles(scene, streams, out)]
    # layout 0: the screen share over the board, the teacher's camera first in the column
    assert placed == [("c/0", (0, 0, 960, 720)), ("a/0", (960, 0, 320, 180)),
                      ("b/0", (960, 180, 320, 180))]
    grid = scene_with(("teacher", "a/0", "video", 0), ("s1", "b/0", "video", 2), layout=2)
    assert [(r.x, r.y, r.w, r.h) for _, r in tiles(grid, streams, out)] == \
        [(0, 0, 640, 720), (640, 0, 640, 720)]
    # a track without a forwarded stream (not flowing yet) leaves its slot to the still
    assert [s.key for s, _ in tiles(scene, {"b/0": streams["b/0"]}, out)] == ["b/0"]


def test_receiver_sdp() -> None:
    sdp = receiver_sdp(Stream("f", "1", "video", "video", "H264", "u", port=50010), "127.0.0.1")
    assert "m=video 50010 RTP/AVP 96\r\n" in sdp
    assert "a=rtpmap:96 H264/90000" in sdp and "packetization-mode=1" in sdp
    audio = receiver_sdp(Stream("f", "0", "audio", "audio", "opus", "u", port=50012), "127.0.0.1")
    assert "m=audio 50012 RTP/AVP 111" in audio and "opus/48000/2" in audio


def test_ffmpeg_command(tmp_path: Path) -> None:
    out = Output(segment_s=1.0, fps=25)
    cam = stream("a/0", "teacher")
    mic = Stream("m", "0", "audio", "audio", "opus", "teacher", port=50002)
    scene = scene_with(("teacher", "a/0", "video", 0))
    files = {cam.key: tmp_path / "v.sdp", mic.key: tmp_path / "a.sdp"}
    argv = ffmpeg_argv("ffmpeg", out, tiles(scene, {cam.key: cam}, out), [mic], files,
                       tmp_path / "layer.png", tmp_path)
    inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
    assert inputs == [str(tmp_path / "layer.png"), str(files[cam.key]), str(files[mic.key])]
    graph = argv[argv.index("-filter_complex") + 1]
    assert "overlay=960:0" in graph and "[2:a]" in graph and "amix" not in graph
    assert argv[argv.index("-g") + 1] == "25"          # one key frame a segment
    assert argv[argv.index("-hls_time") + 1] == "1"
    assert argv[-1] == str(tmp_path / "index.m3u8")
    silent = ffmpeg_argv("ffmpeg", out, [], [], {}, tmp_path / "layer.png", tmp_path)
    assert "anullsrc" in silent[silent.index("-filter_complex") + 1]
