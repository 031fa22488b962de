"""The live composite as a plan: which forwarded streams go where, the receiver's SDP and the
ffmpeg command line (docs/recordings.md#live).

Pure: no I/O. ``tkroom.egress.live`` gathers the streams (Janus ``rtp_forward`` to local UDP
ports), writes the files this module describes and runs the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

VIDEO_PT, AUDIO_PT = 96, 111
SEGMENT_PATTERN = "seg-%d.ts"
PLAYLIST = "index.m3u8"
SEGMENT_NAME = re.compile(r"^seg-\d{1,12}\.ts$")
LAYOUT_BESIDE, LAYOUT_GRID = 0, 1
MAX_TILES = 4  # cameras beside the page in the default layout
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
    role: int = 2
    port: int = 0

    @property
    def key(self) -> str:
        return f"{self.feed}/{self.mid}"

    @property
    def pt(self) -> int:
        return VIDEO_PT if self.kind == "video" else AUDIO_PT


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class Output:
    """What the composite is encoded to."""

    width: int = 1280
    height: int = 720
    fps: int = 25
    video_kbps: int = 2500
    segment_s: float = 1.0
    list_size: int = 6


@dataclass(frozen=True, slots=True)
class Scene:
    """Where each video stream is drawn; ``content`` is the page/board area (None: no page)."""

    content: Rect | None
    tiles: tuple[tuple[Stream, Rect], ...]


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


def _even(v: float) -> int:
    return max(2, int(v) // 2 * 2)


def _order(s: Stream) -> tuple[int, int, str]:
    """Teachers first, then assistants, then students; a user's screen before cameras."""
    return (s.role if s.role in (0, 1) else 2, 0 if s.source == "screen" else 1, s.userid)


def layout(roomlayout: int, videos: list[Stream], out: Output) -> Scene:
    """Where things go, per the room's ``roomlayout``:

    - ``0`` (and any layout not listed): the page (or a screen share, which takes its place)
      on the left three quarters, up to four cameras stacked on the right, teachers first;
    - ``1``: no page; the screen share and cameras in an even grid.
    """
    w, h = out.width, out.height
    screens = sorted((s for s in videos if s.source == "screen"), key=_order)
    cams = sorted((s for s in videos if s.source != "screen"), key=_order)
    if roomlayout == LAYOUT_GRID:
        shown = (screens + cams)[:9]
        n = len(shown)
        cols = 1 if n <= 1 else 2 if n <= 4 else 3
        rows = max(1, -(-n // cols))
        cw, ch = _even(w / cols), _even(h / rows)
        tiles = tuple((s, Rect(_even((i % cols) * cw), _even((i // cols) * ch), cw, ch))
                      for i, s in enumerate(shown))
        return Scene(None, tiles)
    side = _even(w / 4)
    content = Rect(0, 0, w - side, h)
    th = _even(h / MAX_TILES)
    placed: list[tuple[Stream, Rect]] = []
    if screens:
        placed.append((screens[0], content))
    placed += [(s, Rect(w - side, i * th, side, th)) for i, s in enumerate(cams[:MAX_TILES])]
    return Scene(content, tuple(placed))


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


def ffmpeg_argv(ffmpeg: str, out: Output, scene: Scene, audio: list[Stream],
                sdp_files: dict[str, Path], layer: Path | None, out_dir: Path) -> list[str]:
    """The command that composes ``scene`` over the page layer (an RGBA image of the whole
    frame, re-read as it is replaced), mixes ``audio`` and writes HLS into ``out_dir``."""
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
    for i, (s, r) in enumerate(scene.tiles):
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
