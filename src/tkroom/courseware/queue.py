"""The conversion queue: documents waiting in the database, converted by a bounded pool.

The queue is the ``files`` table itself (status 0 queued, 3 converting), so it survives a
restart. Each of ``workers`` tasks claims one document at a time with a conditional UPDATE
(only one claimer wins, on SQLite and PostgreSQL alike), converts it and writes the outcome.
Only the node holding the source on its disk (``File.node``) converts it. A converting
document's worker writes a heartbeat; one whose heartbeat stopped (its node died) is claimed
again, and one that was cut off ``MAX_ATTEMPTS`` times fails. A node that stops cleanly puts
its documents back in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.courseware.convert import ConversionError, convert
from tkroom.rooms.courseware import (
    CONVERTING,
    DONE,
    FAILED,
    MAX_ATTEMPTS,
    QUEUED,
    conversion_kind,
    output_dir,
)
from tkroom.store.models import File

log = logging.getLogger("tkroom.courseware")

HEARTBEAT_S = 5.0
STALE_S = 30.0  # a converting document whose heartbeat is this old has lost its worker


@dataclass
class QueueSettings:
    workdir: Path        # per-job scratch folders, on the same file system as the files
    node: str            # this node's id (File.node of the documents it received)
    workers: int = 2
    timeout_s: float = 300.0
    max_pages: int = 500
    poll_s: float = 2.0


class ConversionQueue:
    """``start()``/``stop()`` as a node service; ``wake()`` when a document was queued."""

    def __init__(self, sessions: async_sessionmaker, settings: QueueSettings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.worker_id = f"{settings.node}:{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        wd = self.settings.workdir
        await asyncio.to_thread(shutil.rmtree, wd, True)  # scratch of jobs cut off before
        await asyncio.to_thread(wd.mkdir, parents=True, exist_ok=True)
        await self._take_back_own()
        self._tasks = [asyncio.create_task(self._worker(i), name=f"convert-{i}")
                       for i in range(max(1, self.settings.workers))]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._release()

    async def _take_back_own(self) -> None:
        """Documents this node was converting when it stopped without saying so (killed):
        their worker is gone (a data folder is one running node's), so they go back in the
        queue now rather than once their heartbeat is stale."""
        async with self.sessions() as s:
            await s.execute(update(File).where(
                File.node == self.settings.node, File.status == CONVERTING,
            ).values(status=QUEUED, worker=""))
            await s.commit()

    async def _release(self) -> None:
        async with self.sessions() as s:
            await s.execute(update(File).where(File.worker == self.worker_id, File.status == CONVERTING)
                            .values(status=QUEUED, worker="", attempts=File.attempts - 1))
            await s.commit()

    async def _worker(self, n: int) -> None:
        while True:
            try:
                job = await self._claim()
            except Exception:
                log.exception("conversion queue: cannot read the database")
                job = None
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
                continue
            self._wake.set()  # there may be more: let the next idle worker look too
            await self._run(job)

    def _claimable(self, now: float) -> ColumnElement[bool]:
        return and_(File.node == self.settings.node, File.conversion.is_(True), or_(
            File.status == QUEUED,
            and_(File.status == CONVERTING, File.heartbeat < now - STALE_S)))

    async def _claim(self) -> File | None:
        """The oldest document this node may convert, now marked as this worker's."""
        now = time.time()
        async with self.sessions() as s:
            ids = (await s.execute(select(File.id).where(self._claimable(now))
                                   .order_by(File.id).limit(8))).scalars().all()
            for fid in ids:
                res = await s.execute(
                    update(File).where(File.id == fid, self._claimable(now))
                    .values(status=CONVERTING, worker=self.worker_id, heartbeat=now, progress=0,
                            attempts=File.attempts + 1, statusmsg=""))
                if res.rowcount == 1:
                    await s.commit()
                    return await s.get(File, fid)
                await s.rollback()
        return None

    async def _run(self, f: File) -> None:
        if f.attempts > MAX_ATTEMPTS:
            await self._finish(f.id, FAILED, f"The conversion was cut off {MAX_ATTEMPTS} times")
            return
        source = await asyncio.to_thread(Path(f.path).absolute)
        work = self.settings.workdir / f"{f.id}-{secrets.token_hex(4)}"
        out = Path(output_dir(str(source)))
        beat = asyncio.create_task(self._heartbeat(f.id))
        try:
            await asyncio.to_thread(work.mkdir)
            kind = conversion_kind(f.filetype)
            if kind is None:
                raise ConversionError(f"Files of type {f.filetype!r} are not converted")
            if not await asyncio.to_thread(source.is_file):
                raise ConversionError("The uploaded file is missing on this node")
            pages = await convert(source, kind, out, work, seconds=self.settings.timeout_s,
                                  max_pages=self.settings.max_pages,
                                  report=lambda p: self._progress(f.id, p))
            if not await self._finish(f.id, DONE, "", pagenum=pages):
                await asyncio.to_thread(shutil.rmtree, out, True)  # deleted meanwhile
            log.info("converted file %s: %d pages", f.id, pages)
        except ConversionError as e:
            log.info("file %s not converted: %s", f.id, e)
            await self._finish(f.id, FAILED, str(e)[:300])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("converting file %s", f.id)
            await self._finish(f.id, FAILED, "The conversion failed on the server")
        finally:
            beat.cancel()
            await asyncio.to_thread(shutil.rmtree, work, True)

    async def _heartbeat(self, fid: int) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            with contextlib.suppress(Exception):
                await self._mine(fid, heartbeat=time.time())

    async def _progress(self, fid: int, pct: int) -> None:
        await self._mine(fid, progress=pct, heartbeat=time.time())

    async def _mine(self, fid: int, **values: object) -> bool:
        """Update the document while this worker still holds it (not deleted, not reclaimed)."""
        async with self.sessions() as s:
            res = await s.execute(update(File).where(
                File.id == fid, File.worker == self.worker_id, File.status == CONVERTING).values(**values))
            await s.commit()
            return bool(res.rowcount)

    async def _finish(self, fid: int, status: int, msg: str, pagenum: int = 0) -> bool:
        try:
            return await self._mine(fid, status=status, statusmsg=msg, worker="",
                                    progress=100 if status == DONE else 0,
                                    pagenum=pagenum if status == DONE else 0)
        except Exception:
            log.exception("conversion queue: cannot record the outcome of file %s", fid)
            return False
