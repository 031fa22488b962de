"""The live composite as a plan: which forwarded streams go where (the layouts of
``tkroom.rooms.scene``), the receiver's SDP and the ffmpeg command line
(docs/recordings.md#live).

Pure: no I/O. ``tkroom.egress.live`` gathers the streams (Janus ``rtp_forward`` to local UDP
ports), writes the files this module describes and runs the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tkroom.rooms.scene import Rect, Scene, place

VIDEO_PT, AUDIO_PT = 96, 111
SEGMENT_PATTERN = "seg-%d.ts"
PLAYLIST = "index.m3u8"
SEGMENT_NAME = re.compile(r"^seg-\d{1,12}\.ts$")
BACKGROUND = "0x1e1e1e"


@dataclass(frozen=True, slots=True)
class Stream:
    """One publisher track forwarded to this node as plain RTP."""

    feed: str     # the publication's VideoRoom id
    mid: str      # the track's mid in the publisher's SDP
    kind: str     # "video" | "audio"
    source: str   # the publication's type: "video" (camera), "screen", "media", "audio"
    codec: str    # "VP8" | "H264" | "opus"
    userid: str
    port: int = 0

    @property
    def key(self) -> str:
        return f"{self.feed}/{self.mid}"

    @property
    def pt(self) -> int:
        return VIDEO_PT if self.kind == "video" else AUDIO_PT


@dataclass(frozen=True, slots=True)
class Output:
    """What the composite is encoded to."""

    width: int = 1280
    height: int = 720
    fps: int = 25
    video_kbps: int = 2500
    segment_s: float = 1.0
    list_size: int = 6


Tile = tuple[Stream, Rect]


def tracks(sdp: str) -> list[tuple[str, str, str]]:
    """``(kind, mid, codec)`` of every sending m-line of the media server's SDP answer to a
    publisher (the codec is the first one the line offers)."""
    out: list[tuple[str, str, str]] = []
    for section in re.split(r"\r?\nm=", "\n" + sdp)[1:]:
        lines = section.splitlines()
        head = lines[0].split()
        if len(head) < 4 or head[0] not in ("audio", "video") or head[1] == "0":
            continue
        mid = next((ln[6:] for ln in lines if ln.startswith("a=mid:")), "")
        if any(ln in ("a=inactive", "a=sendonly") for ln in lines):
            continue  # Janus answers a publisher with recvonly on the tracks it takes
        maps = dict(re.findall(r"^a=rtpmap:(\d+) ([A-Za-z0-9-]+)/", "\n".join(lines), re.M))
        codec = maps.get(head[3], "")
        if mid and codec:
            up = codec.upper()
            out.append((head[0], mid, "opus" if up == "OPUS" else up))
    return out


def tiles(scene: Scene, streams: dict[str, Stream], out: Output) -> list[Tile]:
    """Where each forwarded video goes, by the scene's layout (``rooms.scene.place``, the
    same regions the board still leaves for them): a screen share over the board, then the
    cameras in their slots. A camera track's ``stream_id`` in the scene is the stream's key."""
    placement = place(scene, out.width, out.height)
    placed: list[Tile] = []
    if scene.screen is not None and placement.board is not None and \
            scene.screen.stream_id in streams:
        placed.append((streams[scene.screen.stream_id], placement.board))
    for cam, rect in zip(scene.cameras, placement.cameras, strict=False):
        if cam.stream_id in streams:
            placed.append((streams[cam.stream_id], rect))
    return placed


def receiver_sdp(s: Stream, host: str) -> str:
    """The SDP ffmpeg reads to receive one forwarded stream on ``s.port`` (RTCP on +1)."""
    media = "video" if s.kind == "video" else "audio"
    rtpmap = {"VP8": "VP8/90000", "VP9": "VP9/90000", "H264": "H264/90000",
              "opus": "opus/48000/2"}.get(s.codec, f"{s.codec}/90000")
    lines = ["v=0", f"o=- 0 0 IN IP4 {host}", "s=tkroom live", f"c=IN IP4 {host}", "t=0 0",
             f"m={media} {s.port} RTP/AVP {s.pt}", f"a=rtpmap:{s.pt} {rtpmap}"]
    if s.codec == "H264":
        lines.append(f"a=fmtp:{s.pt} packetization-mode=1")
    lines.append("a=recvonly")
    return "\r\n".join(lines) + "\r\n"


def ffmpeg_argv(ffmpeg: str, out: Output, placed: list[Tile], audio: list[Stream],
                sdp_files: dict[str, Path], layer: Path | None, out_dir: Path) -> list[str]:
    """The command that composes the ``placed`` videos over the board layer (an image of the
    whole frame, re-read as it is replaced), mixes ``audio`` and writes HLS into
    ``out_dir``."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", "-y"]
    filters: list[str] = [f"color=c={BACKGROUND}:s={out.width}x{out.height}:r={out.fps},"
                          f"format=yuv420p[bg0]"]
    cur, n_in = "bg0", 0
    if layer is not None:
        argv += ["-f", "image2", "-loop", "1", "-framerate", "2", "-re", "-i", str(layer)]
        filters.append(f"[{cur}][{n_in}:v]overlay=0:0:eof_action=repeat[bg{n_in + 1}]")
        cur, n_in = f"bg{n_in + 1}", n_in + 1
    rtp_in = ["-protocol_whitelist", "file,udp,rtp", "-fflags", "+genpts+nobuffer",
              "-analyzeduration", "1500000", "-probesize", "200000",
              "-reorder_queue_size", "64", "-f", "sdp"]
    for i, (s, r) in enumerate(placed):
        argv += [*rtp_in, "-i", str(sdp_files[s.key])]
        tile = f"t{i}"
        filters.append(f"[{n_in}:v]setpts=PTS-STARTPTS,scale={r.w}:{r.h}:"
                       f"force_original_aspect_ratio=decrease,pad={r.w}:{r.h}:-1:-1:color=black,"
                       f"format=yuv420p[{tile}]")
        filters.append(f"[{cur}][{tile}]overlay={r.x}:{r.y}:eof_action=repeat[v{i}]")
        cur, n_in = f"v{i}", n_in + 1
    filters.append(f"[{cur}]realtime,format=yuv420p[vout]")
    mix: list[str] = []
    for j, s in enumerate(audio):
        argv += [*rtp_in, "-i", str(sdp_files[s.key])]
        filters.append(f"[{n_in}:a]aresample=48000:async=1000,asetpts=PTS-STARTPTS[a{j}]")
        mix.append(f"[a{j}]")
        n_in += 1
    if len(mix) > 1:
        filters.append(f"{''.join(mix)}amix=inputs={len(mix)}:duration=longest:"
                       f"dropout_transition=0:normalize=0[aout]")
    elif mix:
        filters.append(f"{mix[0]}anull[aout]")
    else:
        filters.append("anullsrc=r=48000:cl=stereo[aout]")
    gop = max(1, round(out.fps * out.segment_s))
    kbps = out.video_kbps
    argv += [
        "-filter_complex", ";".join(filters), "-map", "[vout]", "-map", "[aout]",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-r", str(out.fps),
        "-force_key_frames", f"expr:gte(t,n_forced*{out.segment_s:g})",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
        "-f", "hls", "-hls_time", f"{out.segment_s:g}", "-hls_list_size", str(out.list_size),
        "-hls_delete_threshold", "4",
        "-hls_flags", "delete_segments+append_list+omit_endlist+independent_segments"
                      "+program_date_time+temp_file+discont_start",
        "-hls_segment_filename", str(out_dir / SEGMENT_PATTERN), str(out_dir / PLAYLIST),
    ]
    return argv


def rtmp_argv(ffmpeg: str, out_dir: Path, url: str) -> list[str]:
    """Copy the live HLS (no second encode) to an RTMP server, as FLV."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
            "-live_start_index", "-1", "-i", str(out_dir / PLAYLIST),
            "-c", "copy", "-f", "flv", url]
