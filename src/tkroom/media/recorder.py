"""A room's server recording while it runs: Janus's recorders on and off per publication, then
the files handed to post-processing (``recording.RecordingJob``) in the background."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from tkroom.media.janus_client import JanusError
from tkroom.media.model import MediaRoom, Publication
from tkroom.media.recording import RecordingJob, RecordSink
from tkroom.media.videoroom import VideoRoom


class Recorder:
    """Starts and stops rooms' recordings; ``postprocessing`` holds the jobs being turned into
    playable files (awaited by ``close``)."""

    def __init__(self, record_dir: Path, records: RecordSink | None) -> None:
        self.record_dir = record_dir
        self.records = records
        self.postprocessing: set[asyncio.Task[Any]] = set()

    def file_for(self, room: MediaRoom, pub: Publication) -> str | None:
        """Where Janus records a new publication of a room being recorded (None: it is not)."""
        if room.recording is None:
            return None
        pub.record_base = room.recording.base_for(pub.key.stream_id)
        return self._janus_name(pub.record_base)

    def _janus_name(self, base: str) -> str:
        """Janus wants the file name relative to the room's ``rec_dir``."""
        return os.path.relpath(base, self.record_dir)

    async def start(self, room: MediaRoom) -> RecordingJob:
        """Record the room from now on, including what is already published."""
        job = RecordingJob(room.serial, self.record_dir / room.serial, started=time.time())
        job.folder.mkdir(parents=True, exist_ok=True)
        room.recording = job
        for pub in list(room.pubs.values()):
            name = self.file_for(room, pub)
            with contextlib.suppress(JanusError, TimeoutError):
                await VideoRoom.record(pub.handle, name)
        return job

    def dropped(self, room: MediaRoom, pub: Publication) -> None:
        """A publication of the room went away (its files are complete)."""
        if room.recording is not None and pub.record_base:
            room.recording.stopped(pub.record_base)

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
                pub.record_base = ""
        job.ended = time.time()
        task = asyncio.create_task(job.process(self.records))
        self.postprocessing.add(task)
        task.add_done_callback(self.postprocessing.discard)
        return job

    async def close(self) -> None:
        """Wait for the recordings being processed."""
        if self.postprocessing:
            await asyncio.gather(*self.postprocessing, return_exceptions=True)
