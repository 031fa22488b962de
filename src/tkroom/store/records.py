"""Recordings: the media plane registers each finished file here; ``getrecordlist`` lists them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.store.models import Record


@dataclass
class RecordRepo:
    sessions: async_sessionmaker

    async def add(
        self, *, serial: str, path: str, starttime: int, duration_ms: int = 0, size: int = 0,
        title: str = "", kind: str = "mixed", userid: str = "", recordid: str | None = None,
    ) -> str:
        """Register a finished recording (kind 'publisher' or 'mixed'); answers its recordid."""
        if kind not in ("publisher", "mixed"):
            raise ValueError("kind is 'publisher' or 'mixed'")
        rid = recordid or secrets.token_hex(12)
        async with self.sessions() as s:
            s.add(Record(recordid=rid, serial=serial, title=title[:200], starttime=int(starttime),
                         duration_ms=int(duration_ms), size=int(size), path=path, kind=kind,
                         userid=userid[:100], token=secrets.token_hex(16)))
            await s.commit()
        return rid
