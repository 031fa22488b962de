"""The compositor's jobs: a bounded pool of worker processes, persisted in each recording's
``job.json`` so a node restart resumes them.

A job is one recording folder. The pool runs at most ``workers`` at once, each as a child
process (``python -m tkroom.egress.worker <folder>``) so neither Pillow nor ffmpeg's waiting
ever runs in the node's event loop. The child writes ``job.json`` as it goes (state, progress
0..1) and exits 0 when done, 2 when an input is unreadable (the job fails with the child's
reason: no retry would help), anything else (killed, out of memory, the node stopped) for a
retry after ``retry_s``, up to ``attempts`` runs. A job found ``running`` at start was cut off
by the node's death and counts as an attempt made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("tkroom.egress")

JOB = "job.json"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
EXIT_CORRUPT = 2
_SRC = str(Path(__file__).resolve().parents[2])


@dataclass
class Job:
    """What ``job.json`` holds."""

    recording: str
    serial: str
    starttime_ms: int
    state: str = QUEUED
    attempts: int = 0
    progress: float = 0.0
    reason: str = ""
    records: dict[str, str] = field(default_factory=dict)   # 'events' / 'mixed' -> recordid
    result: dict[str, Any] = field(default_factory=dict)    # compose()'s answer
    registered: bool = False  # the store knows the outcome (set by the node)
    pid: int = 0
    updated: float = 0.0


def read_job(folder: Path) -> Job | None:
    try:
        d = json.loads((folder / JOB).read_text(encoding="utf-8"))
        return Job(**{k: v for k, v in d.items() if k in Job.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def write_job(folder: Path, job: Job) -> None:
    """Atomically (a reader never sees half a file)."""
    job.updated = time.time()
    tmp = folder / (JOB + ".tmp")
    tmp.write_text(json.dumps(asdict(job), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, folder / JOB)


@dataclass
class PoolSettings:
    workers: int = 1
    attempts: int = 3
    retry_s: float = 5.0
    timeout_s: float = 6 * 3600
    compose_args: list[str] = field(default_factory=list)


Finished = Callable[[Path, Job], Awaitable[None]]


class JobPool:
    """Runs the jobs of the recordings under ``record_dir``; ``on_finished`` hears each one
    that ends done or failed (and registers it, then sets ``registered``)."""

    def __init__(self, record_dir: Path, settings: PoolSettings, on_finished: Finished) -> None:
        self.record_dir = record_dir
        self.settings = settings
        self.on_finished = on_finished
        self.queue: asyncio.Queue[Path] = asyncio.Queue()
        self.queued: set[Path] = set()
        self.running: dict[Path, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._later: set[asyncio.Task[None]] = set()
        self.finished = 0

    def submit(self, folder: Path) -> None:
        if folder not in self.queued and folder not in self.running:
            self.queued.add(folder)
            self.queue.put_nowait(folder)

    async def start(self) -> None:
        """Pick up what a previous run left: queued and cut-off jobs, outcomes not
        registered."""
        for folder, job in await asyncio.to_thread(self._scan):
            if job.state in (QUEUED, RUNNING):
                self.submit(folder)
            elif not job.registered:
                await self._finish(folder, job)
        self._tasks = [asyncio.create_task(self._worker(n), name=f"egress-{n}")
                       for n in range(max(1, self.settings.workers))]

    def _scan(self) -> list[tuple[Path, Job]]:
        out = []
        if self.record_dir.is_dir():
            for path in sorted(self.record_dir.glob(f"*/*/{JOB}")):
                job = read_job(path.parent)
                if job is not None:
                    out.append((path.parent, job))
        return out

    async def stop(self) -> None:
        """Stop the workers; a running child is killed (its job stays ``running`` and is
        resumed by the next start)."""
        for t in [*self._tasks, *self._later]:
            t.cancel()
        for proc in list(self.running.values()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for t in [*self._tasks, *self._later]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    def status(self) -> dict[str, Any]:
        return {"queued": len(self.queued), "running": len(self.running),
                "finished": self.finished}

    async def _worker(self, n: int) -> None:
        while True:
            folder = await self.queue.get()
            self.queued.discard(folder)
            try:
                await self._run(folder)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("compositor job %s", folder)

    async def _run(self, folder: Path) -> None:
        job = await asyncio.to_thread(read_job, folder)
        if job is None or job.state in (DONE, FAILED):
            return
        if job.attempts >= self.settings.attempts:
            job.state, job.reason = FAILED, job.reason or (
                f"the compositor stopped {job.attempts} times without finishing")
            await asyncio.to_thread(write_job, folder, job)
            await self._finish(folder, job)
            return
        job.attempts += 1
        job.state = RUNNING
        await asyncio.to_thread(write_job, folder, job)
        rc = await self._child(folder)
        job = await asyncio.to_thread(read_job, folder) or job
        if rc == 0 and job.state == DONE:
            await self._finish(folder, job)
        elif rc == EXIT_CORRUPT and job.state == FAILED:
            log.warning("recording %s failed: %s", folder.name, job.reason)
            await self._finish(folder, job)
        elif job.attempts >= self.settings.attempts:
            job.state = FAILED
            job.reason = (f"the compositor stopped (exit status {rc}) {job.attempts} times"
                          + (f"; last: {job.reason}" if job.reason else ""))
            await asyncio.to_thread(write_job, folder, job)
            await self._finish(folder, job)
        else:
            log.warning("recording %s: compositor exit status %s, retried in %gs",
                        folder.name, rc, self.settings.retry_s)
            job.state = QUEUED
            await asyncio.to_thread(write_job, folder, job)
            self._retry_later(folder)

    def _retry_later(self, folder: Path) -> None:
        async def later() -> None:
            await asyncio.sleep(self.settings.retry_s)
            self.submit(folder)
        task = asyncio.create_task(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _child(self, folder: Path) -> int:
        env = dict(os.environ)
        src = _SRC  # the tkroom this node runs
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tkroom.egress.worker", str(folder),
            *self.settings.compose_args, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        self.running[folder] = proc
        try:
            assert proc.stderr is not None
            try:
                err = await asyncio.wait_for(proc.stderr.read(), self.settings.timeout_s)
            except TimeoutError:
                proc.kill()
                err = b"timed out"
            rc = await proc.wait()
        finally:
            self.running.pop(folder, None)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever the worker left running
            if proc.returncode is None:
                await proc.wait()
        if rc != 0 and err:
            log.warning("compositor for %s: %s", folder.name, err.decode(errors="replace")[-500:])
        return rc

    async def _finish(self, folder: Path, job: Job) -> None:
        try:
            await self.on_finished(folder, job)
        except Exception:
            log.exception("recording %s: outcome not registered (retried at next start)",
                          folder.name)
            return
        job.registered = True
        await asyncio.to_thread(write_job, folder, job)
        self.finished += 1
