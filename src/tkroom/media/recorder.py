"""A room's server recording while it runs: Janus's recorders on and off per publication, then
the files handed to post-processing (``recording.RecordingJob``) in the background.

A ``RecordingListener`` (the egress plane's event-log writer and compositor) hears when a
recording starts and stops and when each publication's recorder goes on or off; with one
attached (``listeners``) the egress plane makes the outputs instead of ``RecordingJob.process``
(``legacy`` False).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

from tkroom.media.janus_client import JanusError
from tkroom.media.model import MediaRoom, Publication
from tkroom.media.recording import RecordingJob, RecordSink
from tkroom.media.videoroom import VideoRoom

log = logging.getLogger(__name__)


class RecordingListener(Protocol):
    """Told of a recording's life; ``track`` must not block (it is called inline)."""

    async def recording_started(self, job: RecordingJob) -> None:
        """The recording's folder exists; nothing is recorded yet (on this node: in a cluster
        ``job.holder`` says whether this node writes the recording's event log)."""

    async def recording_held(self, job: RecordingJob) -> None:
        """This node took the recording over from a holder that died (``job.segment``)."""

    def track(self, job: RecordingJob, userid: str, stream_id: str, kind: str, base: str,
              on: bool) -> None:
        """Janus starts (``on``) or stops recording a publication into ``<base>*.mjr``."""

    async def recording_stopped(self, job: RecordingJob) -> None:
        """Every recorder of the recording on this node is off: its files are complete (the
        holder's outputs are made)."""


class Recorder:
    """Starts and stops rooms' recordings; ``postprocessing`` holds the jobs being turned into
    playable files (awaited by ``close``)."""

    def __init__(self, record_dir: Path, records: RecordSink | None) -> None:
        self.record_dir = record_dir
        self.records = records
        self.postprocessing: set[asyncio.Task[Any]] = set()
        self.listeners: list[RecordingListener] = []
        self.legacy = True

    def file_for(self, room: MediaRoom, pub: Publication) -> str | None:
        """Where Janus records a new publication of a room being recorded (None: it is not)."""
        if room.recording is None:
            return None
        pub.record_base = room.recording.base_for(pub.key.stream_id)
        self._track(room.recording, pub, pub.record_base, True)
        return self._janus_name(pub.record_base)

    def _track(self, job: RecordingJob, pub: Publication, base: str, on: bool) -> None:
        for listener in self.listeners:
            try:
                listener.track(job, pub.key.userid, pub.key.stream_id, pub.key.type, base, on)
            except Exception:
                log.exception("recording listener failed on a track")

    def _janus_name(self, base: str) -> str:
        """Janus wants the file name relative to the room's ``rec_dir``."""
        return os.path.relpath(base, self.record_dir)

    async def start(self, room: MediaRoom, job: RecordingJob | None = None) -> RecordingJob:
        """Record the room from now on, including what is already published (into ``job``:
        the cluster's recording, or a new one)."""
        if job is None:
            job = RecordingJob(room.serial, self.record_dir / room.serial, started=time.time())
            job.folder = job.folder / job.id
        job.folder.mkdir(parents=True, exist_ok=True)
        for listener in self.listeners:
            try:
                await listener.recording_started(job)
            except Exception:  # the recording itself goes on
                log.exception("recording listener failed at the recording's start")
        room.recording = job
        for pub in list(room.pubs.values()):
            name = self.file_for(room, pub)
            with contextlib.suppress(JanusError, TimeoutError):
                await VideoRoom.record(pub.handle, name)
        return job

    async def held(self, job: RecordingJob) -> None:
        """This node took ``job`` over (its fields say from whom)."""
        for listener in self.listeners:
            try:
                await listener.recording_held(job)
            except Exception:
                log.exception("recording listener failed at a takeover")

    async def finish(self, job: RecordingJob) -> None:
        """End a recording this node no longer records but took over from a dead holder."""
        await self.held(job)
        await self._stopped(job)

    def dropped(self, room: MediaRoom, pub: Publication) -> None:
        """A publication of the room went away (its files are complete)."""
        if room.recording is not None and pub.record_base:
            room.recording.stopped(pub.record_base)
            self._track(room.recording, pub, pub.record_base, False)

    async def stop(self, room: MediaRoom) -> RecordingJob:
        """Stop Janus's recorders; turn the .mjr files into playable files in the background."""
        job, room.recording = room.recording, None
        if job is None:
            raise ValueError(f"room {room.serial} is not being recorded")
        for pub in list(room.pubs.values()):
            if pub.record_base:
                with contextlib.suppress(JanusError, TimeoutError):
                    await VideoRoom.record(pub.handle, None)
                job.stopped(pub.record_base)
                self._track(job, pub, pub.record_base, False)
                pub.record_base = ""
        await self._stopped(job)
        return job

    async def _stopped(self, job: RecordingJob) -> RecordingJob:
        job.ended = time.time()
        for listener in self.listeners:
            try:
                await listener.recording_stopped(job)
            except Exception:
                log.exception("recording listener failed at the recording's end")
        if not self.legacy or not job.holder:
            job.done.set()
            return job
        task = asyncio.create_task(job.process(self.records))
        self.postprocessing.add(task)
        task.add_done_callback(self.postprocessing.discard)
        return job

    async def close(self) -> None:
        """Wait for the recordings being processed."""
        if self.postprocessing:
            await asyncio.gather(*self.postprocessing, return_exceptions=True)
