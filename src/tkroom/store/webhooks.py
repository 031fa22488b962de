"""Class-state callbacks to an enterprise's URLs, delivered until the receiver says ``success``.

Deliveries are rows, not tasks, so a restart resumes them: the worker picks up every due row,
POSTs it, and either marks it done or schedules the next attempt after the configured delays
(the original platform's 15 s, 60 s, 300 s, 1800 s by default). After the last delay the row is
marked failed and kept for inspection.

Every POST is signed with the enterprise's key, so the school can tell it from a forgery:
``X-Tkroom-Timestamp`` (Unix seconds of this attempt) and ``X-Tkroom-Signature:
sha256=<hex HMAC-SHA256(authkey, timestamp + "." + body)>`` over the exact body bytes sent
(``sign``; documented in docs/webapi.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.store.models import Company, WebhookDelivery

log = logging.getLogger("tkroom.webhooks")

TIMESTAMP_HEADER = "X-Tkroom-Timestamp"
SIGNATURE_HEADER = "X-Tkroom-Signature"


def sign(key: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: what a receiver recomputes with the enterprise's key."""
    mac = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


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
            ids = {r.companyid for r in rows}
            keys = dict((await s.execute(select(Company.id, Company.authkey)
                                         .where(Company.id.in_(ids)))).all()) if ids else {}
            results = await asyncio.gather(*(self._post(r.url, r.body, keys.get(r.companyid))
                                             for r in rows))
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

    async def _post(self, url: str, body: dict[str, Any], key: str | None) -> str | None:
        """None when the receiver answered ``success``, else why not. Signed with ``key``
        (the enterprise's; None only when the enterprise row is gone)."""
        assert self._client is not None
        raw = urlencode([(k, str(v)) for k, v in body.items()]).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if key is not None:
            ts = int(time.time())
            headers[TIMESTAMP_HEADER] = str(ts)
            headers[SIGNATURE_HEADER] = sign(key, ts, raw)
        try:
            r = await self._client.post(url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if r.text.strip() == "success":
            return None
        return f"HTTP {r.status_code}: {r.text[:200]!r}"
