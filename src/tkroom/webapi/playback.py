"""What the playback page (``/playback/<recordid>/<token>``, docs/recordings.md) needs to play
a recorded lesson: the record's title and times, the download URLs of its event log and of the
media that exist (``composite.mp4``, else ``audio.m4a``), the courseware pages the recording
kept (``page-<fileid>_<page>.jpg``, linked in by the egress plane's event log) and, for pages it
did not keep, the room's courseware with its page images (the log names files by id only). The
record's random token grants all of it, as it grants the downloads."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tkroom import codes
from tkroom.store.models import File, Record, RoomFile
from tkroom.webapi.files import file_entry

log = logging.getLogger(__name__)

EVENTS = "events.jsonl"
VIDEO = "composite.mp4"
AUDIO = "audio.m4a"
NO_DATA = int(codes.WebAPI.NO_MATCHING_DATA)
DB_ERROR = int(codes.WebAPI.DATABASE_ERROR)
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


PAGE_RE = re.compile(r"^page-(\d+_\d+)\.jpg$")


def record_folder(row: Record) -> Path:
    """The folder holding a recording's files (the download route's: beside ``path``)."""
    return Path(row.path).parent


def _listed(row: Record, folder: Path) -> set[str]:
    """The names of the record's files that its token downloads and that exist now."""
    return {n for n in row.files or [] if "/" not in n and (folder / n).is_file()}


async def find_record(sessions: async_sessionmaker, ident: str, token: str) -> Record | None:
    """The record whose id and token these are, else None (a wrong token answers exactly as
    a missing record, so a token cannot be guessed one record at a time)."""
    if not 0 < len(ident) <= 64 or "\x00" in ident:
        return None
    async with sessions() as s:
        row = await s.get(Record, ident)
    if row is None or not hmac.compare_digest(row.token.encode(), token.encode("utf-8", "surrogateescape")):
        return None
    return row


async def playback_code(sessions: async_sessionmaker, ident: str, token: str) -> int:
    """0 when the page may play this record, else the seed's code: 4105 no such record (or a
    wrong token), 4107 the database failed."""
    try:
        return 0 if await find_record(sessions, ident, token) else NO_DATA
    except Exception:
        log.exception("playback: database failure")
        return DB_ERROR


def _answer(code: int, status: int) -> Response:
    return JSONResponse({"result": code, "msg": codes.describe("webapi", code)}, status_code=status,
                        headers=_HEADERS)


async def playback_info(request: Request) -> Response:
    """``/playback/<recordid>/<token>/info``: the JSON the page starts from."""
    state = request.app.state.api
    ident, token = request.path_params["ident"], request.path_params["token"]
    try:
        row = await find_record(state.sessions, ident, token)
        if row is None:
            return _answer(NO_DATA, 404)
        async with state.sessions() as s:
            q = (select(File, RoomFile).join(RoomFile, RoomFile.fileid == File.id)
                 .where(RoomFile.serial == row.serial).order_by(RoomFile.sort, File.id))
            pairs = (await s.execute(q)).all()
    except Exception:
        log.exception("playback: database failure")
        return _answer(DB_ERROR, 500)
    folder = record_folder(row)
    present = await asyncio.to_thread(_listed, row, folder)
    base = str(request.base_url).rstrip("/")
    url = f"/download/record/{row.recordid}/{row.token}/"

    def where(name: str) -> str | None:
        return url + name if name in present else None

    body: dict[str, Any] = {
        "result": 0, "recordid": row.recordid, "serial": row.serial, "title": row.title,
        "starttime": row.starttime, "duration_ms": row.duration_ms,
        "events": where(EVENTS), "video": where(VIDEO), "audio": where(AUDIO),
        "pages": {m.group(1): url + n for n in sorted(present) if (m := PAGE_RE.match(n))},
        "files": [file_entry(base, f, rf) for f, rf in pairs],
    }
    return JSONResponse(body, headers=_HEADERS)
