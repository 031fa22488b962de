"""The compositor: one recording's folder in, ``composite.mp4``, ``user-<id>.mp4`` and
``audio.m4a`` out (docs/recordings.md).

It runs in a worker process (``tkroom.egress.worker``), never in the node's event loop, and
never touches a frame in Python: the board layer is a few stills (rendered by
``board.BoardRenderer`` only when ``Scene.board_key`` changes) played by ffmpeg's concat
demuxer with their durations, the cameras and the screen share are overlaid on it by ffmpeg
filters, each during the intervals the scene shows it, and the audio is ffmpeg's mix of every
published microphone, each file delayed to where it started in the class. One ffmpeg run
decodes every input once and writes every output.
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tkroom.egress.board import BoardRenderer
from tkroom.egress.eventlog import EVENTS, page_file
from tkroom.rooms.scene import (
    SCREEN_TYPES,
    Rect,
    log_end,
    parse_log,
    place,
    scenes,
)

COMPOSITE = "composite.mp4"
AUDIO = "audio.m4a"
STILLS = ".stills"
USER_SIZE = (640, 360)
VIDEO_SUFFIXES = (".webm", ".mkv", ".mp4")
AUDIO_SUFFIXES = (".opus", ".ogg", ".m4a", ".wav")


class CorruptInput(Exception):
    """An input cannot be read: the job fails with this readable reason (no retry helps)."""


@dataclass(frozen=True)
class ComposeSettings:
    width: int = 1280
    height: int = 720
    fps: int = 15
    preset: str = "veryfast"
    crf: int = 26
    audio_bitrate: str = "96k"
    per_user: bool = True


@dataclass
class MediaFile:
    """One playable track file and where it starts in the class (ms)."""

    path: Path
    kind: str          # 'video' | 'audio'
    userid: str
    stream_id: str
    stype: str         # the publication's type: video, audio, screen, media
    base: str          # the mjr base name the event log knows it by
    start_ms: int
    end_ms: int = -1


@dataclass
class Plan:
    """What ffmpeg is asked to do."""

    duration_ms: int
    stills: list[tuple[Path, int]] = field(default_factory=list)  # still, duration ms
    videos: list[MediaFile] = field(default_factory=list)
    audios: list[MediaFile] = field(default_factory=list)
    # per video input: (start ms, end ms, rect) intervals it is shown in the composite
    shown: dict[int, list[tuple[int, int, Rect]]] = field(default_factory=dict)


def user_file(userid: str) -> str:
    """``user-<id>.mp4``, with the characters a file name may not hold replaced."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", userid)[:80] or "_"
    return f"user-{safe}.mp4"


def _die_with_parent() -> None:
    """In the child, before exec: a worker killed mid-way takes its ffmpeg with it (Linux
    ``PR_SET_PDEATHSIG``), so a retry never races an orphan writing the same files."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          preexec_fn=_die_with_parent)


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's view of a file; ``CorruptInput`` when it cannot read it."""
    r = _run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
              "-show_streams", str(path)], 120)
    info: dict[str, Any] = {}
    if r.returncode == 0:
        try:
            info = json.loads(r.stdout)
        except ValueError:
            info = {}
    if r.returncode != 0 or not info.get("streams"):
        why = (r.stderr.strip().splitlines() or ["no audio or video stream"])[-1][:200]
        raise CorruptInput(f"{path.name} cannot be read: {why}")
    return info


def mjr_start_us(mjr: Path) -> int | None:
    """When Janus wrote the first packet of a .mjr (µs since the epoch), from its header."""
    r = _run(["janus-pp-rec", "-j", "-H", str(mjr)], 60)
    m = re.search(r"\{.*\}", r.stdout + r.stderr, re.S)
    if not m:
        return None
    try:
        head = json.loads(m.group(0))
    except ValueError:
        return None
    v = head.get("u") or head.get("s")
    return int(v) if isinstance(v, int) and v > 0 else None


def mjr_to_media(mjr: Path) -> Path:
    """janus-pp-rec: a .mjr into .webm (video) or .opus (audio); kept for a retry."""
    r = _run(["janus-pp-rec", "-j", "-H", str(mjr)], 60)
    video = '"t": "v"' in r.stdout or '"t":"v"' in r.stdout or "-video" in mjr.name
    out = mjr.with_suffix(".webm" if video else ".opus")
    if out.exists() and out.stat().st_size > 0:
        return out
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    r = _run(["janus-pp-rec", str(mjr), str(tmp)], 1800)
    if r.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        why = ((r.stderr or r.stdout).strip().splitlines() or ["no output"])[-1][:200]
        raise CorruptInput(f"{mjr.name} is not a readable Janus recording: {why}")
    tmp.rename(out)
    return out


def media_files(folder: Path, records: list[dict[str, Any]], at_ms: int) -> list[MediaFile]:
    """Every track file of the recording with its place on the timeline: .mjr files are
    converted (their header says when their first packet came); files already converted
    (``<base>*.webm`` / ``*.opus``, as a retry or the benchmark finds them) start at their
    ``track`` line."""
    out: list[MediaFile] = []
    open_tracks: dict[str, MediaFile] = {}
    for rec in records:
        if rec.get("kind") != "track" or not isinstance(rec.get("file"), str):
            continue
        base = Path(rec["file"]).name
        if rec.get("on"):
            for f in _track_files(folder, base):
                kind = "video" if f.suffix in VIDEO_SUFFIXES else "audio"
                start = int(rec.get("t", 0))
                if f.suffix == ".mjr":
                    us = mjr_start_us(f)
                    f = mjr_to_media(f)
                    kind = "video" if f.suffix == ".webm" else "audio"
                    if us is not None:
                        start = max(0, us // 1000 - at_ms)
                mf = MediaFile(f, kind, str(rec.get("userid", "")), str(rec.get("stream_id", "")),
                               str(rec.get("type", "video")), base, start)
                out.append(mf)
                open_tracks[f"{base}|{f.name}"] = mf
        else:
            for key, mf in list(open_tracks.items()):
                if key.startswith(base + "|"):
                    mf.end_ms = int(rec.get("t", 0))
                    del open_tracks[key]
    return out


def _track_files(folder: Path, base: str) -> list[Path]:
    """The files of one publication: its .mjr (preferred: their header has the start time),
    else files already converted."""
    found = sorted(p for p in folder.glob(glob_escape(base) + "*") if p.is_file())
    mjr = [p for p in found if p.suffix == ".mjr"]
    if mjr:
        return mjr
    return [p for p in found if ".part" not in p.name
            and p.suffix in VIDEO_SUFFIXES + AUDIO_SUFFIXES]


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def plan(folder: Path, settings: ComposeSettings,
         check: Callable[[Path], Any] = probe) -> Plan:
    """Read the event log and the track files, render the stills; nothing is encoded yet."""
    with open(folder / EVENTS, encoding="utf-8") as f:
        records = parse_log(f)
    if not records or records[0].get("kind") != "start":
        raise CorruptInput(f"{EVENTS} has no start line")
    at_ms = int(records[0].get("at_ms", 0))
    duration = max(log_end(records), 1000)
    files = media_files(folder, records, at_ms)
    for mf in files:
        info = check(mf.path)
        want = "video" if mf.kind == "video" else "audio"
        if not any(s.get("codec_type") == want for s in info.get("streams", [])):
            raise CorruptInput(f"{mf.path.name} has no {want} stream")
    p = Plan(duration)
    p.videos = [m for m in files if m.kind == "video"]
    p.audios = [m for m in files if m.kind == "audio"]
    by_base: dict[str, list[int]] = {}
    for i, m in enumerate(p.videos):
        by_base.setdefault(m.base, []).append(i)
    renderer = BoardRenderer(settings.width, settings.height,
                             lambda key: _page_path(folder, key))
    stills_dir = folder / STILLS
    shutil.rmtree(stills_dir, ignore_errors=True)
    stills_dir.mkdir()
    frame_ms = max(1, 1000 // settings.fps)
    last_key: Any = None
    last_t = 0
    opened: dict[tuple[int, Rect], int] = {}  # (video index, rect) -> shown since
    timeline = [s for s in scenes(records) if s.t < duration]
    for n, sc in enumerate(timeline):
        nxt = timeline[n + 1].t if n + 1 < len(timeline) else duration
        if nxt - sc.t < frame_ms and n + 1 < len(timeline):
            continue  # replaced within one frame: never seen
        placement = place(sc, settings.width, settings.height)
        shown: list[tuple[int, Rect]] = []
        if sc.screen is not None and placement.board is not None:
            shown += [(i, placement.board) for i in by_base.get(sc.screen.file, [])]
        for cam, rect in zip(sc.cameras, placement.cameras, strict=False):
            shown += [(i, rect) for i in by_base.get(cam.file, [])]
        for key_, since in list(opened.items()):
            if key_ not in shown:
                p.shown.setdefault(key_[0], []).append((since, sc.t, key_[1]))
                del opened[key_]
        for key_ in shown:
            opened.setdefault(key_, sc.t)
        key = sc.board_key()
        if key != last_key:
            if p.stills:
                prev, _ = p.stills[-1]
                p.stills[-1] = (prev, sc.t - last_t)
                last_t = sc.t
            path = stills_dir / f"{len(p.stills):05d}.png"
            renderer.still(sc).save(path, compress_level=1)
            p.stills.append((path, 0))
            last_key = key
    for (i, rect), since in opened.items():
        p.shown.setdefault(i, []).append((since, duration, rect))
    if p.stills:
        prev, _ = p.stills[-1]
        p.stills[-1] = (prev, duration - last_t)
    return p


def _page_path(folder: Path, key: str) -> Path | None:
    path = folder / page_file(key)
    return path if path.is_file() else None


def _sec(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def ffmpeg_args(folder: Path, p: Plan, settings: ComposeSettings) -> tuple[list[str], list[str]]:
    """The ffmpeg command and the names of the files it writes."""
    listing = folder / STILLS / "stills.txt"
    lines = ["ffconcat version 1.0"]
    for path, dur in p.stills:
        lines += [f"file '{path.name}'", f"duration {_sec(max(dur, 1))}"]
    lines.append(f"file '{p.stills[-1][0].name}'")  # the concat demuxer's last duration rule
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fps = settings.fps
    w, h = settings.width, settings.height
    argv = ["ffmpeg", "-y", "-v", "error", "-nostats", "-progress", "pipe:1",
            "-f", "concat", "-safe", "0", "-i", str(listing)]
    for m in [*p.videos, *p.audios]:
        argv += ["-i", str(m.path)]
    graph: list[str] = [f"[0:v]fps={fps},scale={w}:{h},setsar=1,format=yuv420p[bg0]"]
    users = sorted({m.userid for m in p.videos + p.audios}) if settings.per_user else []
    user_videos: dict[str, list[int]] = {}
    for i, m in enumerate(p.videos):
        if m.stype not in SCREEN_TYPES and m.userid in users:
            user_videos.setdefault(m.userid, []).append(i)
    bg = "bg0"
    n_over = 0
    for i, m in enumerate(p.videos):
        shown = p.shown.get(i, [])
        outs = len(shown) + sum(1 for u in user_videos.values() if i in u)
        if outs == 0:
            continue
        graph.append(f"[{1 + i}:v]setpts=PTS-STARTPTS+{_sec(m.start_ms)}/TB,fps={fps},"
                     f"split={outs}" + "".join(f"[v{i}_{k}]" for k in range(outs)))
        for k, (a, b, r) in enumerate(shown):
            graph.append(f"[v{i}_{k}]scale={r.w}:{r.h}:force_original_aspect_ratio=decrease,"
                         f"pad={r.w}:{r.h}:(ow-iw)/2:(oh-ih)/2,setsar=1[s{i}_{k}]")
            n_over += 1
            graph.append(f"[{bg}][s{i}_{k}]overlay={r.x}:{r.y}:eof_action=pass:"
                         f"enable='between(t,{_sec(a)},{_sec(b)})'[bg{n_over}]")
            bg = f"bg{n_over}"
    graph.append(f"[{bg}]null[vout]")
    base_a = 1 + len(p.videos)
    for j, m in enumerate(p.audios):
        # janus-pp-rec leaves lost packets as gaps in the timestamps: aresample fills each gap
        # with silence (hard compensation from 15 ms), so what follows a loss stays in place
        graph.append(f"[{base_a + j}:a]asetpts=PTS-STARTPTS,"
                     f"aresample=48000:async=1:min_hard_comp=0.015:first_pts=0,"
                     f"aformat=channel_layouts=stereo,adelay={m.start_ms}:all=1[a{j}]")
    n_a = len(p.audios)
    user_audio: dict[str, list[int]] = {}
    for j, m in enumerate(p.audios):
        if m.userid in users:
            user_audio.setdefault(m.userid, []).append(j)
    # each audio feeds the mix and its user's file
    for j in range(n_a):
        uses = 1 + sum(1 for u in user_audio.values() if j in u)
        graph.append(f"[a{j}]asplit={uses}" + "".join(f"[a{j}_{k}]" for k in range(uses)))
    a_used = dict.fromkeys(range(n_a), 1)
    if n_a:
        graph.append("".join(f"[a{j}_0]" for j in range(n_a)) +
                     f"amix=inputs={n_a}:duration=longest:normalize=0,apad,asplit=2[am][am2]")
    else:
        graph.append("anullsrc=r=48000:cl=stereo,asplit=2[am][am2]")
    total = _sec(p.duration_ms)
    enc_v = ["-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf),
             "-pix_fmt", "yuv420p", "-r", str(fps), "-g", str(fps * 4)]
    enc_a = ["-c:a", "aac", "-b:a", settings.audio_bitrate, "-ar", "48000"]
    outputs = [COMPOSITE, AUDIO]
    tail = ["-map", "[vout]", "-map", "[am]", *enc_v, *enc_a, "-t", total,
            "-movflags", "+faststart", str(folder / (COMPOSITE + ".part.mp4")),
            "-map", "[am2]", "-vn", *enc_a, "-t", total, "-movflags", "+faststart",
            str(folder / (AUDIO + ".part.m4a"))]
    split_used: dict[int, int] = {i: len(p.shown.get(i, [])) for i in range(len(p.videos))}
    uw, uh = USER_SIZE
    for u in users:
        vids, auds = user_videos.get(u, []), user_audio.get(u, [])
        if not vids:
            continue  # a user without a camera: the audio mix has them
        starts = [p.videos[i].start_ms for i in vids] + [p.audios[j].start_ms for j in auds]
        t0 = min(starts)
        length = max(1000, p.duration_ms - t0)
        graph.append(f"color=c=black:s={uw}x{uh}:r={fps}:d={_sec(length)},format=yuv420p[ub{u}0]"
                     .replace(f"[ub{u}0]", f"[ub_{_tag(u)}_0]"))
        prev = f"ub_{_tag(u)}_0"
        for n, i in enumerate(vids, 1):
            k = split_used[i]
            split_used[i] += 1
            graph.append(f"[v{i}_{k}]scale={uw}:{uh}:force_original_aspect_ratio=decrease,"
                         f"pad={uw}:{uh}:(ow-iw)/2:(oh-ih)/2,setsar=1,"
                         f"setpts=PTS-{_sec(t0)}/TB[uv{i}_{k}]")
            graph.append(f"[{prev}][uv{i}_{k}]overlay=0:0:eof_action=pass[ub_{_tag(u)}_{n}]")
            prev = f"ub_{_tag(u)}_{n}"
        ua: list[str] = []
        amap: list[str] = []
        for j in auds:
            ua.append(f"[a{j}_{a_used[j]}]")
            a_used[j] += 1
        if ua:
            graph.append("".join(ua) + f"amix=inputs={len(ua)}:duration=longest:normalize=0,"
                         f"atrim=start={_sec(t0)},asetpts=PTS-STARTPTS,apad[ua_{_tag(u)}]")
            amap = ["-map", f"[ua_{_tag(u)}]", *enc_a]
        name = user_file(u)
        outputs.append(name)
        tail += ["-map", f"[{prev}]", *amap, *enc_v, "-t", _sec(length), "-movflags",
                 "+faststart", str(folder / (name + ".part.mp4"))]
    argv += ["-filter_complex", ";".join(graph), *tail]
    return argv, outputs


def _tag(userid: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "x", userid)[:40] + str(abs(hash(userid)) % 10_000)


def part_name(name: str) -> str:
    return name + (".part.mp4" if name.endswith(".mp4") else ".part.m4a")


def compose(folder: Path, settings: ComposeSettings,
            progress: Callable[[float], None] = lambda f: None,
            timeout: float = 6 * 3600) -> dict[str, Any]:
    """Make the outputs of the recording in ``folder``; answers ``{"duration_ms", "outputs":
    {name: {"size", "userid"?}}}``. ``CorruptInput`` for an input no retry can read; any other
    exception is worth a retry."""
    p = plan(folder, settings)
    progress(0.05)
    argv, outputs = ffmpeg_args(folder, p, settings)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_die_with_parent)
    assert proc.stdout is not None
    total_us = max(1, p.duration_ms * 1000)
    try:
        for line in proc.stdout:
            if line.startswith("out_time_us="):
                try:
                    done = int(line.split("=", 1)[1])
                except ValueError:
                    continue
                progress(min(0.99, 0.05 + 0.94 * done / total_us))
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {err.strip()[-400:]}")
    result: dict[str, Any] = {"duration_ms": p.duration_ms, "outputs": {}}
    users = {user_file(m.userid): m.userid for m in p.videos}
    for name in outputs:
        part = folder / part_name(name)
        part.rename(folder / name)
        entry: dict[str, Any] = {"size": (folder / name).stat().st_size}
        if name in users:
            entry["userid"] = users[name]
        result["outputs"][name] = entry
    shutil.rmtree(folder / STILLS, ignore_errors=True)
    return result
