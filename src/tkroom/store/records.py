"""Recordings: each output of a recording is a row (``Record``); ``getrecordlist`` lists them,
the egress plane registers them while processing and marks them ready or failed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.store.models import Record

KINDS = {"publisher": 1, "mixed": 8, "events": 0}


@dataclass
class RecordRepo:
    sessions: async_sessionmaker

    async def add(
        self, *, serial: str, path: str, starttime: int, duration_ms: int = 0, size: int = 0,
        title: str = "", kind: str = "mixed", userid: str = "", recordid: str | None = None,
        state: int = 1, recording: str = "", files: list[str] | None = None,
    ) -> str:
        """Register an output (kind 'events' 0, 'publisher' 1 or 'mixed' 8); answers its
        recordid. ``path``: the storage key of its main file (``storage.record_key``; an
        absolute path in rows written before storage); ``files``: the names beside it (same
        key prefix) its token also downloads."""
        if kind not in KINDS:
            raise ValueError("kind is 'events', 'publisher' or 'mixed'")
        rid = recordid or secrets.token_hex(12)
        async with self.sessions() as s:
            s.add(Record(recordid=rid, serial=serial, title=title[:200], starttime=int(starttime),
                         duration_ms=int(duration_ms), size=int(size), path=path, kind=kind,
                         userid=userid[:100], token=secrets.token_hex(16),
                         recordtype=KINDS[kind], state=int(state), recording=recording[:64],
                         files=list(files) if files is not None else None))
            await s.commit()
        return rid

    async def update(self, recordid: str, **fields: Any) -> dict[str, Any] | None:
        """Change an output's ``state``, ``reason``, ``size``, ``duration_ms``, ``files``,
        ``path`` (its storage key once stored); answers the row (as a dict) or None when it is
        gone."""
        allowed = {"state", "reason", "size", "duration_ms", "files", "path"}
        async with self.sessions() as s:
            row = await s.get(Record, recordid)
            if row is None:
                return None
            for k, v in fields.items():
                if k not in allowed:
                    raise ValueError(f"a record's {k} does not change")
                setattr(row, k, v[:500] if k == "reason" and isinstance(v, str) else v)
            await s.commit()
            return _as_dict(row)

    async def of_recording(self, recording: str) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            rows = (await s.execute(select(Record).where(Record.recording == recording)
                                    .order_by(Record.recordtype, Record.userid))).scalars().all()
        return [_as_dict(r) for r in rows]


def _as_dict(r: Record) -> dict[str, Any]:
    return {"recordid": r.recordid, "serial": r.serial, "title": r.title,
            "starttime": r.starttime, "duration_ms": r.duration_ms, "size": r.size,
            "path": r.path, "kind": r.kind, "userid": r.userid, "token": r.token,
            "recordtype": r.recordtype, "state": r.state, "reason": r.reason,
            "recording": r.recording, "files": list(r.files or [])}
