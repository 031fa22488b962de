"""The compositor on a lesson of ``minutes`` (10 by default): 720p H.264/AAC, ``publishers``
cameras with microphones (640x360 VP8 + Opus, as janus-pp-rec leaves them), a stroke every
3 s, a page turn every 2 minutes, chat; made by ``bench.egress.lesson`` so no Janus is needed.

The job runs as the node runs it (``python -m tkroom.egress.worker``, the node's default
settings). Rows: processing time with, as baseline, ffmpeg encoding the same length of 720p
with the same encoder settings and nothing else (so the ratio is the cost of compositing on top
of encoding); processing time as a ratio of the lesson's length (floor ≤ 0.5×); the CPU it
used; the disk each output takes per hour of class.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.egress.lesson import busy_lesson, make
from bench.whiteboard.common import row
from tkroom.egress.compose import ComposeSettings
from tkroom.egress.jobs import DONE, Job, read_job, write_job

SRC = str(Path(__file__).resolve().parents[2] / "src")
OUTPUTS = ("composite.mp4", "audio.m4a")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def lesson_folder(minutes: float, publishers: int) -> Path:
    """The synthetic recording, made once and kept in the temporary folder."""
    folder = Path(tempfile.gettempdir()) / f"tkroom-bench-egress-{minutes:g}m-{publishers}p" / "r"
    if not (folder / "events.jsonl").exists():
        shutil.rmtree(folder.parent, ignore_errors=True)
        t = time.monotonic()
        make(folder, busy_lesson(minutes, publishers))
        print(f"made the inputs in {time.monotonic() - t:.0f} s", file=sys.stderr)
    for p in folder.glob("*.mp4"):
        p.unlink()
    for name in ("audio.m4a", "job.json"):
        (folder / name).unlink(missing_ok=True)
    return folder


def timed(argv: list[str], **kw: Any) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    cpu, t = _children_cpu(), time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    return time.monotonic() - t, _children_cpu() - cpu, r


def run(minutes: float = 10.0, publishers: int = 3, quick: bool = False) -> list[dict[str, Any]]:
    if quick:
        minutes = min(minutes, 1.0)
    length_s = minutes * 60
    s = ComposeSettings()
    folder = lesson_folder(minutes, publishers)
    write_job(folder, Job("bench", "0", 0))
    wall, cpu, r = timed([sys.executable, "-m", "tkroom.egress.worker", str(folder)],
                         env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    job = read_job(folder)
    if r.returncode != 0 or job is None or job.state != DONE:
        raise RuntimeError(f"the compositor failed ({r.returncode}): {r.stderr[-500:]}")
    base_wall, base_cpu, b = timed([
        "ffmpeg", "-v", "error", "-f", "lavfi", "-i",
        f"testsrc2=s={s.width}x{s.height}:r={s.fps}:d={length_s}", "-c:v", "libx264",
        "-preset", s.preset, "-crf", str(s.crf), "-pix_fmt", "yuv420p", "-f", "null", "-"])
    if b.returncode != 0:
        raise RuntimeError(f"the baseline failed: {b.stderr[-300:]}")
    per_hour = 3600 / length_s / 1e6
    sizes = {name: (folder / name).stat().st_size for name in OUTPUTS}
    users = [p.stat().st_size for p in folder.glob("user-*.mp4")]
    events = (folder / "events.jsonl").stat().st_size
    stills = len(job.result.get("outputs", {}))
    label = f"{minutes:g}-min lesson, {publishers} publishers, {s.width}x{s.height}"
    ratio = wall / length_s
    return [
        row(f"compositor, {label} (all outputs)", wall, "s", baseline=base_wall,
            cpu_s=cpu, baseline_cpu_s=base_cpu,
            note="baseline: ffmpeg encoding the same length of 720p, nothing else"),
        row("processing time ÷ lesson length", ratio, "×", floor="≤ 0.5", ok=ratio <= 0.5),
        row("compositor CPU ÷ lesson length", cpu / length_s, "core·s/s"),
        row("composite.mp4 per hour", sizes["composite.mp4"] * per_hour, "MB"),
        row("user-<id>.mp4 per hour (each)", (sum(users) / max(1, len(users))) * per_hour,
            "MB", users=len(users)),
        row("audio.m4a per hour", sizes["audio.m4a"] * per_hour, "MB"),
        row("events.jsonl per hour", events * per_hour, "MB", outputs=stills),
    ]
