"""The egress plane as a node service: event logs while classes are recorded, the compositor's
jobs after, their outputs registered for ``getrecordlist`` (docs/recordings.md).

It listens to the media plane's recorder (``RecordingListener``): a recording that starts
gets an ``EventLog``; one that stops gets its outputs registered as processing (``state`` 0)
and a job queued. When the job ends the outputs become ready (1, which sends the enterprise's
``recordready`` webhook through the directory) or failed (2, with the reason). A recording the
node died in the middle of (an event log without ``job.json``) is queued at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tkroom.directory import RoomDirectory
from tkroom.egress.compose import AUDIO, COMPOSITE
from tkroom.egress.eventlog import EVENTS, EventLog, TrackLog, read_log
from tkroom.egress.jobs import DONE, JOB, Job, JobPool, PoolSettings, write_job
from tkroom.media.recording import RecordingJob
from tkroom.metrics import Metric, egress_families
from tkroom.rooms.playback import KEPT_PAGE
from tkroom.rooms.recording import LEASE_MS
from tkroom.rooms.scene import log_end, parse_log
from tkroom.state.base import RoomState
from tkroom.storage.base import Storage, record_key

log = logging.getLogger("tkroom.egress")

PROCESSING, READY, FAILED_STATE = 0, 1, 2


@dataclass
class EgressSettings:
    record_dir: Path
    width: int = 1280
    height: int = 720
    fps: int = 15
    preset: str = "veryfast"
    crf: int = 26
    per_user: bool = True
    workers: int = 1
    attempts: int = 3
    retry_s: float = 5.0
    keep_sources: bool = False

    @classmethod
    def from_settings(cls, s: Any, record_dir: Path) -> EgressSettings:
        return cls(record_dir=record_dir, width=s.egress_width, height=s.egress_height,
                   fps=s.egress_fps, preset=s.egress_preset, crf=s.egress_crf,
                   per_user=s.egress_per_user, workers=s.egress_workers,
                   attempts=s.egress_attempts, keep_sources=s.egress_keep_sources)

    def compose_args(self) -> list[str]:
        args = ["--width", str(self.width), "--height", str(self.height), "--fps",
                str(self.fps), "--preset", self.preset, "--crf", str(self.crf)]
        return args + ([] if self.per_user else ["--no-per-user"])


def _pages(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("page-*.jpg"))


class EgressPlane:
    """Event logs and compositor jobs for the recordings of this node."""

    def __init__(self, settings: EgressSettings, directory: RoomDirectory, state: RoomState,
                 storage: Storage) -> None:
        self.settings = settings
        self.directory = directory
        self.state = state
        self.storage = storage
        self.logs: dict[str, EventLog] = {}
        self.tracks: dict[str, TrackLog] = {}  # recordings another node holds
        self.pool = JobPool(settings.record_dir, PoolSettings(
            workers=settings.workers, attempts=settings.attempts, retry_s=settings.retry_s,
            compose_args=settings.compose_args()), self._finished)

    # ---- the recorder's listener ----------------------------------------------------------

    async def recording_started(self, job: RecordingJob) -> None:
        """The holder writes the event log (appending a ``segment`` line when it took the
        recording over); another node its own ``tracks-<node>.jsonl``."""
        if not job.holder:
            tl = TrackLog(job.folder, job.started, job.node)
            await tl.start()
            self.tracks[job.id] = tl
            return
        info = await self.directory.room(job.serial)
        ev = EventLog(self.state, job.serial, job.folder, job.started,
                      info.public() if info is not None else {}, pages=self.directory,
                      storage=self.storage, node=job.node,
                      segment=(job.segment, job.previous) if job.segment > 1 else None)
        await ev.start()
        self.logs[job.id] = ev

    async def recording_held(self, job: RecordingJob) -> None:
        """This node took the recording over: from now on it writes the event log."""
        tl = self.tracks.pop(job.id, None)
        if tl is not None:
            await tl.close()
        await self.recording_started(job)

    def track(self, job: RecordingJob, userid: str, stream_id: str, kind: str, base: str,
              on: bool) -> None:
        out = self.logs.get(job.id) or self.tracks.get(job.id)
        if out is not None:
            out.track(userid, stream_id, kind, base, on)

    async def recording_stopped(self, job: RecordingJob) -> None:
        """Close what this node wrote; the holder (one node) queues the recording's job."""
        tl = self.tracks.pop(job.id, None)
        if tl is not None:
            await tl.close()
        ev = self.logs.pop(job.id, None)
        if ev is not None:
            await ev.close()
        if job.holder:
            await self.queue(job.folder, job.serial, job.id, int(job.started * 1000))

    # ---- jobs -----------------------------------------------------------------------------

    async def queue(self, folder: Path, serial: str, recording: str, started_ms: int) -> Job:
        """Register the recording's outputs as processing and queue its job."""
        info = await self.directory.room(serial)
        title = (info.roomname if info is not None else "") or serial
        job = Job(recording, serial, started_ms)
        # a node that died between registering and writing job.json left the rows: reuse them
        known = {r["kind"]: r["recordid"] for r in await self.directory.records_of(recording)}
        for kind, name, rtype, files in (("events", EVENTS, 0, [EVENTS, *_pages(folder)]),
                                         ("mixed", COMPOSITE, 8, [])):
            if kind in known:
                job.records[kind] = known[kind]
                continue
            job.records[kind] = await self.directory.add_record(
                serial=serial, path=record_key(serial, recording, name),
                starttime=started_ms // 1000,
                title=title, kind=kind, recordid=f"{recording}-{rtype}", state=PROCESSING,
                recording=recording, files=files)
        await asyncio.to_thread(write_job, folder, job)
        self.pool.submit(folder)
        return job

    def _key(self, job: Job, name: str) -> str:
        return record_key(job.serial, job.recording, name)

    async def _finished(self, folder: Path, job: Job) -> None:
        """Store the job's outputs and register its outcome (idempotent: a restart may do it
        again, after the local copies went)."""
        known = {r["recordid"]: r for r in await self.directory.records_of(job.recording)}
        ev_rid, mixed_rid = job.records.get("events", ""), job.records.get("mixed", "")
        listed = known.get(ev_rid, {}).get("files", [])
        pages = sorted(set(_pages(folder)) | {n for n in listed if KEPT_PAGE.match(n)})
        if job.state == DONE:
            outputs: dict[str, Any] = job.result.get("outputs", {})
            duration = int(job.result.get("duration_ms", 0))
            stored = await self._store(folder, job, [*sorted(outputs), EVENTS, *pages])
            media = [n for n in (COMPOSITE, AUDIO) if n in stored]
            for name, out in sorted(outputs.items()):
                uid = out.get("userid")
                if not uid or name not in stored:
                    continue
                key = self._key(job, name)
                if any(r["path"] in (key, str(folder / name)) for r in known.values()):
                    continue
                rid = await self.directory.add_record(
                    serial=job.serial, path=key, starttime=job.starttime_ms // 1000,
                    duration_ms=duration, size=stored[name], title=uid, kind="publisher",
                    userid=uid, recordid=f"{job.recording}-1-{len(known)}-{name}"[:64],
                    state=PROCESSING, recording=job.recording,
                    files=[name, *([AUDIO] if AUDIO in stored else [])])
                known[rid] = {"recordid": rid, "path": key}
                await self.directory.update_record(rid, state=READY)
            if mixed_rid:
                await self.directory.update_record(
                    mixed_rid, state=READY, size=stored.get(COMPOSITE, 0), duration_ms=duration,
                    files=media, path=self._key(job, COMPOSITE))
            if ev_rid:
                await self.directory.update_record(
                    ev_rid, state=READY, duration_ms=duration, size=stored.get(EVENTS, 0),
                    files=[n for n in (EVENTS, *media, *pages) if n in stored],
                    path=self._key(job, EVENTS))
            if not self.settings.keep_sources:
                await asyncio.to_thread(_drop_sources, folder)
        else:
            duration = await asyncio.to_thread(_log_length, folder)
            stored = await self._store(folder, job, [EVENTS, *pages])
            if mixed_rid:
                await self.directory.update_record(mixed_rid, state=FAILED_STATE,
                                                   reason=job.reason,
                                                   path=self._key(job, COMPOSITE))
            if ev_rid:  # the board and the chat still play
                if duration == 0:  # a re-run after the local log went: what was registered
                    duration = int(known.get(ev_rid, {}).get("duration_ms", 0))
                await self.directory.update_record(ev_rid, state=READY, reason=job.reason,
                                                   duration_ms=duration,
                                                   size=stored.get(EVENTS, 0),
                                                   files=[n for n in (EVENTS, *pages)
                                                          if n in stored],
                                                   path=self._key(job, EVENTS))
        await self._drop_stored(folder, job, stored)

    async def _store(self, folder: Path, job: Job, names: list[str]) -> dict[str, int]:
        """Put each output into the storage (a no-op for a folder backend whose own file it
        is); answers the size of each one stored. A name whose local copy is gone but whose
        object exists was stored by an earlier run."""
        sizes: dict[str, int] = {}
        for name in dict.fromkeys(names):
            key, local = self._key(job, name), folder / name
            if await asyncio.to_thread(local.is_file):
                sizes[name] = await self.storage.put_file(key, local)
            elif (size := await self.storage.size(key)) is not None:
                sizes[name] = size
            else:
                log.warning("recording %s: %s is neither here nor stored", folder.name, name)
        return sizes

    async def _drop_stored(self, folder: Path, job: Job, stored: dict[str, int]) -> None:
        """The local copies of what went to another place (S3, a shared folder elsewhere):
        the recording's folder keeps only its sources (``egress_keep_sources``) and
        ``job.json``."""
        for name in stored:
            local = folder / name
            there = await self.storage.local_path(self._key(job, name))
            if there is None or not await asyncio.to_thread(_same_file, there, local):
                await asyncio.to_thread(local.unlink, missing_ok=True)

    # ---- service --------------------------------------------------------------------------

    async def start(self) -> None:
        self.settings.record_dir.mkdir(parents=True, exist_ok=True)
        for folder in await asyncio.to_thread(self._orphans):
            if not await self._orphaned(folder.parent.name, folder.name):
                continue
            try:
                first = parse_log([await asyncio.to_thread(_first_line, folder / EVENTS)])
                at_ms = int(first[0].get("at_ms", 0)) if first else int(time.time() * 1000)
                await self.queue(folder, folder.parent.name, folder.name, at_ms)
            except Exception:
                log.exception("recording %s left by a stopped node not queued", folder)
        await self.pool.start()

    async def _orphaned(self, serial: str, recording: str) -> bool:
        """Whether no node of the cluster records it any more: its shared record is gone, or
        its lease lapsed and this node took it to end it (one node queues it)."""
        rec = await self.state.recording(serial)
        if rec is None or rec["id"] != recording:
            return True
        rec, taken = await self.state.claim_recording(serial, f"egress-{secrets.token_hex(4)}",
                                                      int(time.time() * 1000), LEASE_MS, "")
        return taken and rec is not None and \
            await self.state.end_recording(serial, recording) is not None

    def _orphans(self) -> list[Path]:
        """Recordings with an event log but no job: the node stopped while they ran."""
        live = {ev.folder for ev in self.logs.values()}
        return [p.parent for p in sorted(self.settings.record_dir.glob(f"*/*/{EVENTS}"))
                if not (p.parent / JOB).exists() and p.parent not in live]

    async def stop(self) -> None:
        for ev in self.logs.values():
            await ev.close()
        for tl in self.tracks.values():
            await tl.close()
        self.logs.clear()
        self.tracks.clear()
        await self.pool.stop()

    def metrics(self) -> list[Metric]:
        """Queued and running jobs, and how far the slowest running one is (the progress the
        worker last wrote, kept by the pool: nothing is read from disk here)."""
        running = list(self.pool.progress.values())
        return egress_families(len(self.pool.queued), len(self.pool.running),
                               min(running) if running else 1.0)


def _drop_sources(folder: Path) -> None:
    """After success: Janus's files and what janus-pp-rec made of them."""
    for mjr in folder.glob("*.mjr"):
        for derived in (mjr.with_suffix(".webm"), mjr.with_suffix(".opus")):
            derived.unlink(missing_ok=True)
        mjr.unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    """The same name (a hard link of the object is still a copy to drop)."""
    return a.resolve() == b.resolve()


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.readline()


def _log_length(folder: Path) -> int:
    try:
        return log_end(read_log(folder))
    except OSError:
        return 0


def install_egress(node: Any, state: RoomState, media: Any) -> EgressPlane:
    """Make the outputs of the recordings of ``media`` (a ``MediaPlane``) on this
    ``tkroom.node.Node`` whose room state is ``state``. Call before ``node.start()``, after
    ``install_media``."""
    settings = EgressSettings.from_settings(node.settings, media.service.recorder.record_dir)
    plane = EgressPlane(settings, node.directory, state, node.storage)
    media.service.recorder.listeners.append(plane)
    media.service.recorder.legacy = False
    node.services.append(plane)
    node.metrics.add(plane.metrics)
    return plane
