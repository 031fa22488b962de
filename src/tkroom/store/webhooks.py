"""Class-state callbacks to an enterprise's URLs, delivered until the receiver says ``success``.

Deliveries are rows, not tasks, so a restart resumes them: the worker picks up every due row,
POSTs it, and either marks it done or schedules the next attempt after the configured delays
(the original platform's 15 s, 60 s, 300 s, 1800 s by default). After the last delay the row is
marked failed and kept for inspection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.store.models import WebhookDelivery

log = logging.getLogger("tkroom.webhooks")


class WebhookWorker:
    """Delivers pending rows of ``webhook_deliveries``; ``start()``/``stop()`` like every service."""

    def __init__(self, sessions: async_sessionmaker, delays_s: tuple[float, ...], timeout_s: float = 10.0,
                 poll_s: float = 5.0):
        self.sessions = sessions
        self.delays_s = delays_s
        self.timeout_s = timeout_s
        self.poll_s = min(poll_s, *delays_s) if delays_s else poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def enqueue(self, companyid: int, url: str, body: dict[str, Any]) -> None:
        async with self.sessions() as s:
            s.add(WebhookDelivery(companyid=companyid, url=url, body=body, attempts=0,
                                  next_at=time.time(), done=False, failed=False, last_error=""))
            await s.commit()
        self._wake.set()

    async def backlog(self) -> tuple[int, int]:
        """(deliveries still to make, deliveries given up) in the whole store."""
        async with self.sessions() as s:
            rows = (await s.execute(
                select(WebhookDelivery.failed, func.count()).where(WebhookDelivery.done.is_(False))
                .group_by(WebhookDelivery.failed))).all()
        counts = {bool(failed): n for failed, n in rows}
        return counts.get(False, 0), counts.get(True, 0)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away for a while: keep trying
                log.exception("webhook worker")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()

    async def deliver_due(self) -> int:
        """Attempt every due delivery once; the number attempted."""
        now = time.time()
        async with self.sessions() as s:
            q = (select(WebhookDelivery).where(WebhookDelivery.done.is_(False), WebhookDelivery.failed.is_(False),
                                               WebhookDelivery.next_at <= now)
                 .order_by(WebhookDelivery.next_at).limit(100)
                 .with_for_update(skip_locked=True))  # nodes sharing PostgreSQL never send a row twice
            rows = (await s.execute(q)).scalars().all()
            results = await asyncio.gather(*(self._post(r.url, r.body) for r in rows))
            for row, err in zip(rows, results, strict=True):
                row.attempts += 1
                if err is None:
                    row.done = True
                    continue
                row.last_error = err[:500]
                if row.attempts > len(self.delays_s):
                    row.failed = True
                    log.warning("webhook %s to %s given up after %d attempts", row.id, row.url, row.attempts)
                else:
                    row.next_at = time.time() + self.delays_s[row.attempts - 1]
            await s.commit()
        return len(rows)

    async def _post(self, url: str, body: dict[str, Any]) -> str | None:
        """None when the receiver answered ``success``, else why not."""
        assert self._client is not None
        try:
            r = await self._client.post(url, data={k: str(v) for k, v in body.items()})
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if r.text.strip() == "success":
            return None
        return f"HTTP {r.status_code}: {r.text[:200]!r}"
