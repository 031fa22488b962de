"""The conversion queue: documents waiting in the database, converted by a bounded pool.

The queue is the ``files`` table itself (status 0 queued, 3 converting;
``tkroom.store.conversions``), so it survives a restart. Each of ``workers`` tasks claims one
document at a time, fetches its source from the storage (``tkroom.storage``) into a scratch
folder, converts it there (``tkroom.courseware.convert``), stores the pages, thumbnails and PDF
under the source's ``pages_prefix`` and records the outcome. On a storage of this node's own
only the node that received a document converts it; on a shared one (S3, a shared folder) any
node does, so a document received by a node that died is converted by another. A converting
document's worker writes a heartbeat; one whose heartbeat stopped (its node was killed) is
claimed again ``STALE_S`` later, and one that was cut off ``MAX_ATTEMPTS`` times fails. A node
that stops cleanly puts its documents back in the queue at once. (A killed node's documents
are not simply taken back when it starts: nodes on one machine may share a data folder, and so
a node id, and the other node may be converting them right now.)
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
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.courseware.convert import ConversionError, convert, tools_missing
from tkroom.rooms.courseware import (
    CONVERTING,
    DONE,
    FAILED,
    MAX_ATTEMPTS,
    QUEUED,
    conversion_kind,
)
from tkroom.storage.base import Storage, StorageError, pages_prefix
from tkroom.store.conversions import ConversionRows
from tkroom.store.models import File

log = logging.getLogger("tkroom.courseware")

HEARTBEAT_S = 3.0
STALE_S = 15.0  # a converting document whose heartbeat is this old has lost its worker
STORE_AT_ONCE = 8  # outputs stored side by side (S3 round trips overlap)


@dataclass
class QueueSettings:
    workdir: Path        # scratch folders of this node
    node: str            # this node's id (File.node of the documents it received)
    workers: int = 2
    timeout_s: float = 300.0
    max_pages: int = 500
    poll_s: float = 2.0
    hide: tuple[Path, ...] = ()  # folders LibreOffice must not see (the data folder...)


class _Gone(Exception):
    """The document was deleted (or taken over) while it was being converted."""


class ConversionQueue:
    """``start()``/``stop()`` as a node service; ``wake()`` when a document was queued. The
    documents' sources and outputs are in ``storage``."""

    def __init__(self, sessions: async_sessionmaker, settings: QueueSettings,
                 storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.rows = ConversionRows(sessions, settings.node, f"{settings.node}:{secrets.token_hex(4)}",
                                   any_node=storage.shared)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._wake.set()

    @property
    def scratch(self) -> Path:
        """This process's scratch folder (nodes on one machine may share the data folder)."""
        return self.settings.workdir / self.rows.worker.replace(":", "-")

    async def start(self) -> None:
        await asyncio.to_thread(self._clean_scratch)
        self._tasks = [asyncio.create_task(self._worker(i), name=f"convert-{i}")
                       for i in range(max(1, self.settings.workers))]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.rows.release()
        await asyncio.to_thread(shutil.rmtree, self.scratch, True)

    def _clean_scratch(self) -> None:
        """Remove the scratch folders of processes that were killed: those untouched for
        longer than a conversion may take (every tool they started is dead by then)."""
        root = self.settings.workdir
        root.mkdir(parents=True, exist_ok=True)
        old = time.time() - self.settings.timeout_s - 60
        for d in root.iterdir():
            with contextlib.suppress(OSError):
                if d.stat().st_mtime < old:
                    shutil.rmtree(d, ignore_errors=True)

    async def readiness(self) -> dict[str, Any]:
        """Ready while every worker runs; the tools a document needs are listed (a missing
        one fails those documents, status 2, but is no reason to send classes elsewhere)."""
        alive = sum(1 for t in self._tasks if not t.done())
        missing = await asyncio.to_thread(tools_missing)
        return {"ok": bool(self._tasks) and alive == len(self._tasks), "workers": alive,
                "missing_tools": missing}

    async def backlog(self) -> dict[str, int]:
        """This node's documents waiting (queued) and being converted."""
        counts = await self.rows.backlog()
        return {"queued": counts.get(QUEUED, 0), "converting": counts.get(CONVERTING, 0)}

    async def _worker(self, n: int) -> None:
        while True:
            try:
                job = await self.rows.claim(time.time(), STALE_S)
            except Exception:
                log.exception("conversion queue: cannot read the database")
                job = None
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
                self._wake.clear()  # a wake set while claiming is seen by the wait above
                continue
            self._wake.set()  # there may be more: let the next idle worker look too
            await self._run(job)

    async def _run(self, f: File) -> None:
        if f.attempts > MAX_ATTEMPTS:
            await self._finish(f.id, FAILED, f"The conversion was cut off {MAX_ATTEMPTS} times")
            return
        work = self.scratch / f"{f.id}-{secrets.token_hex(4)}"
        prefix = pages_prefix(f.path)
        stored = False  # outputs may be in the storage: they go unless the document is done
        beat = asyncio.create_task(self._heartbeat(f.id))
        try:
            await asyncio.to_thread(work.mkdir, parents=True)
            kind = conversion_kind(f.filetype)
            if kind is None:
                raise ConversionError(f"Files of type {f.filetype!r} are not converted")
            source = work / f"upload.{f.filetype}"
            await self._fetch(f.path, source)
            out = work / "pages"
            pages = await convert(source, kind, out, work, seconds=self.settings.timeout_s,
                                  max_pages=self.settings.max_pages,
                                  report=lambda p: self._progress(f.id, p),
                                  hide=self.settings.hide)
            stored = True
            await self._store(f.id, out, prefix)
            if await self._finish(f.id, DONE, "", pagenum=pages):
                stored = False
                log.info("converted file %s: %d pages", f.id, pages)
            else:
                log.info("file %s was deleted while it was converted", f.id)
        except _Gone:
            log.info("file %s was deleted while it was converted", f.id)
        except ConversionError as e:
            log.info("file %s not converted: %s", f.id, e)
            await self._finish(f.id, FAILED, str(e)[:300])
        except StorageError as e:
            log.warning("file %s not converted: the storage failed: %s", f.id, e)
            await self._finish(f.id, FAILED, "The file storage failed during the conversion")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("converting file %s", f.id)
            await self._finish(f.id, FAILED, "The conversion failed on the server")
        finally:
            beat.cancel()
            if stored:
                await self._discard(f.id, prefix)
            await asyncio.to_thread(shutil.rmtree, work, True)

    async def _fetch(self, key: str, dest: Path) -> None:
        try:
            await self.storage.fetch(key, dest)
        except FileNotFoundError as exc:
            raise ConversionError("The uploaded file is missing from the file storage") from exc

    async def _store(self, fid: int, out: Path, prefix: str) -> None:
        """The outputs into the storage, over whatever an earlier attempt left; stops as soon
        as the document is no longer this worker's (deleted meanwhile)."""
        names = sorted(p.name for p in await asyncio.to_thread(lambda: list(out.iterdir())))
        await self.storage.delete_prefix(prefix)
        for i in range(0, len(names), STORE_AT_ONCE):
            await asyncio.gather(*(self.storage.put_file(prefix + n, out / n)
                                   for n in names[i:i + STORE_AT_ONCE]))
            if not await self.rows.update(fid, heartbeat=time.time()):
                raise _Gone

    async def _discard(self, fid: int, prefix: str) -> None:
        """Remove what a conversion that did not end done stored (a deleted document leaves
        nothing behind), unless another worker took the document over meanwhile."""
        try:
            if not await self.rows.taken(fid):
                await asyncio.shield(self.storage.delete_prefix(prefix))
        except Exception:
            log.exception("file %s: its unfinished pages could not be removed", fid)

    async def _heartbeat(self, fid: int) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            with contextlib.suppress(Exception):
                await self.rows.update(fid, heartbeat=time.time())

    async def _progress(self, fid: int, pct: int) -> None:
        """Record progress; stop converting a document that is no longer this worker's."""
        if not await self.rows.update(fid, progress=pct, heartbeat=time.time()):
            raise _Gone

    async def _finish(self, fid: int, status: int, msg: str, pagenum: int = 0) -> bool:
        try:
            return await self.rows.update(fid, status=status, statusmsg=msg, worker="",
                                          progress=100 if status == DONE else 0,
                                          pagenum=pagenum if status == DONE else 0)
        except Exception:
            log.exception("conversion queue: cannot record the outcome of file %s", fid)
            return False
