"""The compositor: one recording's folder in, ``composite.mp4``, ``user-<id>.mp4`` and
``audio.m4a`` out (docs/recordings.md).

It runs in a worker process (``tkroom.egress.worker``), never in the node's event loop, and
never touches a frame in Python: the board layer is a few stills (rendered by
``board.BoardRenderer`` only when ``Scene.board_key`` changes) played by ffmpeg's concat
demuxer with their durations, the cameras and the screen share are overlaid on it by ffmpeg
filters, each during the intervals the scene shows it, and the audio is ffmpeg's mix of every
published microphone, each file delayed to where it started in the class. One ffmpeg process
writes the merged MP4 and the audio mix, a second one beside it (another core) the per-user
MP4s; each decodes its inputs once.
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
from tkroom.egress.eventlog import EVENTS, page_file, read_log
from tkroom.rooms.scene import (
    SCREEN_TYPES,
    Rect,
    log_end,
    place,
    scenes,
)

COMPOSITE = "composite.mp4"
AUDIO = "audio.m4a"
STILLS = ".stills"
STILL_MS = 250  # the board layer changes at most this often in the outputs
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
    nodes: dict[str, str] = {}  # open track -> the node that recorded it
    for rec in records:
        if rec.get("kind") == "segment":  # the previous holder died: its tracks ended
            for key in [k for k, n in nodes.items() if n and n == rec.get("previous")]:
                if key in open_tracks:
                    open_tracks.pop(key).end_ms = int(rec.get("t", 0))
                del nodes[key]
            continue
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
                nodes[f"{base}|{f.name}"] = str(rec.get("node") or "")
        else:
            for key, mf in list(open_tracks.items()):
                if key.startswith(base + "|"):
                    mf.end_ms = int(rec.get("t", 0))
                    del open_tracks[key]
                    nodes.pop(key, None)
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
    records = read_log(folder)
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
    # at most one still per STILL_MS window (the last state in it): a board drawn on as fast
    # as the rate limit allows still makes a bounded number of stills
    window = max(1000 // settings.fps, STILL_MS)
    last_key: Any = None
    last_t = 0
    opened: dict[tuple[int, Rect], int] = {}  # (video index, rect) -> shown since
    timeline = [s for s in scenes(records) if s.t < duration]
    for n, sc in enumerate(timeline):
        if n + 1 < len(timeline) and timeline[n + 1].t // window == sc.t // window:
            continue  # replaced within the same window
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


def _audio_chain(j: int, index: int, m: MediaFile) -> str:
    """One microphone, on the class's timeline. janus-pp-rec leaves lost packets as gaps in
    the timestamps: aresample fills each gap with silence (hard compensation from 15 ms), so
    what follows a loss stays in place."""
    return (f"[{index}:a]asetpts=PTS-STARTPTS,"
            f"aresample=48000:async=1:min_hard_comp=0.015:first_pts=0,"
            f"aformat=channel_layouts=stereo,adelay={m.start_ms}:all=1[a{j}]")


def _encoders(settings: ComposeSettings) -> tuple[list[str], list[str]]:
    enc_v = ["-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf),
             "-pix_fmt", "yuv420p", "-r", str(settings.fps), "-g", str(settings.fps * 4)]
    enc_a = ["-c:a", "aac", "-b:a", settings.audio_bitrate, "-ar", "48000"]
    return enc_v, enc_a


def _inputs(files: list[MediaFile]) -> list[str]:
    return [a for m in files for a in ("-i", str(m.path))]


def ffmpeg_args(folder: Path, p: Plan, settings: ComposeSettings) -> tuple[list[str], list[str]]:
    """The ffmpeg command that makes the merged MP4 and the audio mix, and their names."""
    listing = folder / STILLS / "stills.txt"
    lines = ["ffconcat version 1.0"]
    for path, dur in p.stills:
        lines += [f"file '{path.name}'", f"duration {_sec(max(dur, 1))}"]
    lines.append(f"file '{p.stills[-1][0].name}'")  # the concat demuxer's last duration rule
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fps = settings.fps
    w, h = settings.width, settings.height
    argv = ["ffmpeg", "-y", "-v", "error", "-nostats", "-progress", "pipe:1",
            "-f", "concat", "-safe", "0", "-i", str(listing), *_inputs([*p.videos, *p.audios])]
    # convert each still once, then repeat it: fps after the conversion, not before
    graph: list[str] = [f"[0:v]scale={w}:{h},setsar=1,format=yuv420p,fps={fps}[bg0]"]
    bg = "bg0"
    n_over = 0
    for i, m in enumerate(p.videos):
        shown = p.shown.get(i, [])
        if not shown:
            continue
        graph.append(f"[{1 + i}:v]setpts=PTS-STARTPTS+{_sec(m.start_ms)}/TB,fps={fps},"
                     f"split={len(shown)}" + "".join(f"[v{i}_{k}]" for k in range(len(shown))))
        for k, (a, b, r) in enumerate(shown):
            graph.append(f"[v{i}_{k}]scale={r.w}:{r.h}:force_original_aspect_ratio=decrease,"
                         f"pad={r.w}:{r.h}:(ow-iw)/2:(oh-ih)/2,setsar=1[s{i}_{k}]")
            n_over += 1
            graph.append(f"[{bg}][s{i}_{k}]overlay={r.x}:{r.y}:eof_action=pass:"
                         f"enable='between(t,{_sec(a)},{_sec(b)})'[bg{n_over}]")
            bg = f"bg{n_over}"
    graph.append(f"[{bg}]null[vout]")
    base_a = 1 + len(p.videos)
    graph += [_audio_chain(j, base_a + j, m) for j, m in enumerate(p.audios)]
    if p.audios:
        graph.append("".join(f"[a{j}]" for j in range(len(p.audios))) +
                     f"amix=inputs={len(p.audios)}:duration=longest:normalize=0,apad,"
                     "asplit=2[am][am2]")
    else:
        graph.append("anullsrc=r=48000:cl=stereo,asplit=2[am][am2]")
    total = _sec(p.duration_ms)
    enc_v, enc_a = _encoders(settings)
    argv += ["-filter_complex", ";".join(graph),
             "-map", "[vout]", "-map", "[am]", *enc_v, *enc_a, "-t", total,
             "-movflags", "+faststart", str(folder / part_name(COMPOSITE)),
             "-map", "[am2]", "-vn", *enc_a, "-t", total, "-movflags", "+faststart",
             str(folder / part_name(AUDIO))]
    return argv, [COMPOSITE, AUDIO]


def users_args(folder: Path, p: Plan, settings: ComposeSettings) -> tuple[list[str], list[str]]:
    """The ffmpeg command that makes one MP4 per user with a camera (their camera at
    ``USER_SIZE`` and their microphones, from their first frame on), and the names; a second
    process beside the merged MP4's, so the two use two cores. Empty when there is none."""
    fps = settings.fps
    cams = [m for m in p.videos if m.stype not in SCREEN_TYPES]
    users = sorted({m.userid for m in cams}) if settings.per_user else []
    if not users:
        return [], []
    mics = [m for m in p.audios if m.userid in users]
    argv = ["ffmpeg", "-y", "-v", "error", "-nostats", *_inputs([*cams, *mics])]
    graph: list[str] = []
    graph += [_audio_chain(j, len(cams) + j, m) for j, m in enumerate(mics)]
    enc_v, enc_a = _encoders(settings)
    uw, uh = USER_SIZE
    tail: list[str] = []
    outputs: list[str] = []
    for u in users:
        vids = [i for i, m in enumerate(cams) if m.userid == u]
        auds = [j for j, m in enumerate(mics) if m.userid == u]
        t0 = min([cams[i].start_ms for i in vids] + [mics[j].start_ms for j in auds])
        length = max(1000, p.duration_ms - t0)
        tag = _tag(u)
        graph.append(f"color=c=black:s={uw}x{uh}:r={fps}:d={_sec(length)},format=yuv420p"
                     f"[ub_{tag}_0]")
        prev = f"ub_{tag}_0"
        for n, i in enumerate(vids, 1):
            graph.append(f"[{i}:v]setpts=PTS-STARTPTS+{_sec(cams[i].start_ms - t0)}/TB,"
                         f"fps={fps},scale={uw}:{uh}:force_original_aspect_ratio=decrease,"
                         f"pad={uw}:{uh}:(ow-iw)/2:(oh-ih)/2,setsar=1[uv{i}]")
            graph.append(f"[{prev}][uv{i}]overlay=0:0:eof_action=pass[ub_{tag}_{n}]")
            prev = f"ub_{tag}_{n}"
        amap: list[str] = []
        if auds:
            graph.append("".join(f"[a{j}]" for j in auds) +
                         f"amix=inputs={len(auds)}:duration=longest:normalize=0,"
                         f"atrim=start={_sec(t0)},asetpts=PTS-STARTPTS,apad[ua_{tag}]")
            amap = ["-map", f"[ua_{tag}]", *enc_a]
        name = user_file(u)
        outputs.append(name)
        tail += ["-map", f"[{prev}]", *amap, *enc_v, "-t", _sec(length), "-movflags",
                 "+faststart", str(folder / part_name(name))]
    return [*argv, "-filter_complex", ";".join(graph), *tail], outputs


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
    users_argv, user_outputs = users_args(folder, p, settings)
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=_die_with_parent)]
    if users_argv:
        procs.append(subprocess.Popen(users_argv, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True,
                                      preexec_fn=_die_with_parent))
    main = procs[0]
    assert main.stdout is not None
    total_us = max(1, p.duration_ms * 1000)
    errors: list[str] = []
    try:
        for line in main.stdout:
            if line.startswith("out_time_us="):
                try:
                    done = int(line.split("=", 1)[1])
                except ValueError:
                    continue
                progress(min(0.99, 0.05 + 0.94 * done / total_us))
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                errors.append(f"ffmpeg failed ({proc.returncode}): {(err or '').strip()[-400:]}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if errors:
        for part in folder.glob("*.part.*"):
            part.unlink(missing_ok=True)
        raise RuntimeError("; ".join(errors))
    outputs += user_outputs
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
