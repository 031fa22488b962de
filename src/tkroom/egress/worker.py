"""``python -m tkroom.egress.worker <folder> [--width W ...]``: one compositor job, in its own
process (``jobs.JobPool`` starts it). Exit 0 done, 2 an unreadable input (``job.json`` says
which), 1 anything else (the pool retries)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tkroom.egress.compose import ComposeSettings, CorruptInput, compose
from tkroom.egress.jobs import DONE, EXIT_CORRUPT, FAILED, RUNNING, read_job, write_job


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tkroom.egress.worker")
    ap.add_argument("folder", type=Path)
    d = ComposeSettings()
    ap.add_argument("--width", type=int, default=d.width)
    ap.add_argument("--height", type=int, default=d.height)
    ap.add_argument("--fps", type=int, default=d.fps)
    ap.add_argument("--preset", default=d.preset)
    ap.add_argument("--crf", type=int, default=d.crf)
    ap.add_argument("--no-per-user", action="store_true")
    a = ap.parse_args(argv)
    folder: Path = a.folder
    job = read_job(folder)
    if job is None:
        print(f"{folder}: no job.json", file=sys.stderr)
        return 1
    job.state, job.pid, job.progress = RUNNING, os.getpid(), 0.0
    write_job(folder, job)
    last = [0.0]

    def progress(f: float) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0:
            last[0] = now
            job.progress = round(f, 3)
            write_job(folder, job)

    settings = ComposeSettings(a.width, a.height, a.fps, a.preset, a.crf,
                               per_user=not a.no_per_user)
    try:
        job.result = compose(folder, settings, progress)
    except CorruptInput as e:
        job.state, job.reason = FAILED, str(e)
        write_job(folder, job)
        print(job.reason, file=sys.stderr)
        return EXIT_CORRUPT
    except Exception as e:  # retried by the pool: say why in the job
        job.reason = f"{type(e).__name__}: {e}"[:500]
        job.state = RUNNING
        write_job(folder, job)
        print(job.reason, file=sys.stderr)
        return 1
    job.state, job.progress, job.reason = DONE, 1.0, ""
    write_job(folder, job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
