"""The conversion queue's rows: documents in the ``files`` table waiting for, or going through,
conversion into pages (statuses in ``tkroom.rooms.courseware``).

Claims are conditional UPDATEs, so of several workers (of one node, or of nodes sharing a
PostgreSQL database) exactly one wins a document. When the storage is one node's own
(``any_node`` False), only the node that received a document (``File.node``) claims it; on a
shared storage any node does, so a document received by a node that died is still converted.
Every later write names the claiming ``worker``, so a worker whose document was deleted or
taken over meanwhile changes nothing.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.rooms.courseware import CONVERTING, DONE, QUEUED
from tkroom.store.models import File


class ConversionRows:
    """The queue as one worker process (``worker``) of one node (``node``) sees it;
    ``any_node``: it converts every node's documents (the storage is shared)."""

    def __init__(self, sessions: async_sessionmaker, node: str, worker: str, *,
                 any_node: bool = False) -> None:
        self.sessions = sessions
        self.node = node
        self.worker = worker
        self.any_node = any_node

    def _mine(self) -> ColumnElement[bool]:
        """The documents this node may convert, whatever their status."""
        return File.conversion.is_(True) if self.any_node else and_(
            File.node == self.node, File.conversion.is_(True))

    def _claimable(self, now: float, stale_s: float) -> ColumnElement[bool]:
        return and_(self._mine(), or_(
            File.status == QUEUED,
            and_(File.status == CONVERTING, File.heartbeat < now - stale_s)))

    async def claim(self, now: float, stale_s: float) -> File | None:
        """The oldest document this node may convert (queued, or converting by a worker
        silent for ``stale_s``), now marked as this worker's; None when there is none."""
        async with self.sessions() as s:
            ids = (await s.execute(select(File.id).where(self._claimable(now, stale_s))
                                   .order_by(File.id).limit(8))).scalars().all()
            for fid in ids:
                res = await s.execute(
                    update(File).where(File.id == fid, self._claimable(now, stale_s))
                    .values(status=CONVERTING, worker=self.worker, heartbeat=now, progress=0,
                            attempts=File.attempts + 1, statusmsg=""))
                if res.rowcount == 1:
                    await s.commit()
                    return await s.get(File, fid)
                await s.rollback()
        return None

    async def backlog(self) -> dict[int, int]:
        """The documents this node may convert by status, of those queued or converting."""
        async with self.sessions() as s:
            rows = (await s.execute(
                select(File.status, func.count())
                .where(self._mine(), File.status.in_((QUEUED, CONVERTING)))
                .group_by(File.status))).all()
        return {int(status): int(n) for status, n in rows}

    async def update(self, fid: int, **values: object) -> bool:
        """Change a document while this worker holds it; False when it no longer does."""
        async with self.sessions() as s:
            res = await s.execute(update(File).where(
                File.id == fid, File.worker == self.worker, File.status == CONVERTING).values(**values))
            await s.commit()
            return bool(res.rowcount)

    async def taken(self, fid: int) -> bool:
        """Whether a document this worker lost is done or being converted by another worker
        (whose outputs this one must not remove)."""
        async with self.sessions() as s:
            row = (await s.execute(select(File.status, File.worker).where(File.id == fid))).one_or_none()
        return row is not None and (row.status == DONE or (
            row.status == CONVERTING and row.worker != self.worker))

    async def release(self) -> None:
        """This worker's documents go back in the queue, their attempt not counted (a clean
        stop cut them off, not the document)."""
        async with self.sessions() as s:
            await s.execute(update(File).where(File.worker == self.worker, File.status == CONVERTING)
                            .values(status=QUEUED, worker="", attempts=File.attempts - 1))
            await s.commit()
