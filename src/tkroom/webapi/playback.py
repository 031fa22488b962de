"""What the playback page (``/playback/<recordid>/<token>``, docs/recordings.md) needs to play
a recorded lesson: the record's title and times, the download URLs of its event log and of the
media that exist (``composite.mp4``, else ``audio.m4a``), the courseware pages the recording
kept (``page-<fileid>_<page>.jpg``, linked in by the egress plane's event log) and, for pages it
did not keep, the courseware files the lesson showed, with their page images (the log names
files by id only). The record's random token grants all of it, as it grants the downloads, and
nothing more: a file the lesson never showed is not listed."""

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
from tkroom.rooms.playback import shown_files
from tkroom.store.models import File, Record, Room
from tkroom.webapi.files import file_entry

log = logging.getLogger(__name__)

EVENTS = "events.jsonl"
VIDEO = "composite.mp4"
AUDIO = "audio.m4a"
NO_DATA = int(codes.WebAPI.NO_MATCHING_DATA)
DB_ERROR = int(codes.WebAPI.DATABASE_ERROR)
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_SHOWN_CACHE = 256  # event logs whose shown files are remembered (by path, size and time)
_shown: dict[tuple[str, int, int], frozenset[int]] = {}


PAGE_RE = re.compile(r"^page-(\d+_\d+)\.jpg$")


def record_folder(row: Record) -> Path:
    """The folder holding a recording's files (the download route's: beside ``path``)."""
    return Path(row.path).parent


def _listed(row: Record, folder: Path) -> set[str]:
    """The names of the record's files that its token downloads and that exist now."""
    return {n for n in row.files or [] if "/" not in n and (folder / n).is_file()}


def _shown_in(path: Path) -> frozenset[int]:
    """``shown_files`` of a log, read once per version of the file (a long lesson's log is
    tens of megabytes; the page asks at each opening)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _shown:
        with open(path, encoding="utf-8", errors="replace") as f:
            ids = frozenset(shown_files(f))
        if len(_shown) >= _SHOWN_CACHE:
            _shown.pop(next(iter(_shown)))
        _shown[key] = ids
    return _shown[key]


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
    except Exception:
        log.exception("playback: database failure")
        return _answer(DB_ERROR, 500)
    if row is None:
        return _answer(NO_DATA, 404)
    folder = record_folder(row)
    present = await asyncio.to_thread(_listed, row, folder)
    shown: frozenset[int] = frozenset()
    if EVENTS in present:
        try:
            shown = await asyncio.to_thread(_shown_in, folder / EVENTS)
        except OSError:
            log.warning("playback %s: the event log cannot be read", row.recordid)
    files: list[File] = []
    if shown:
        try:
            async with state.sessions() as s:
                # The room's enterprise's files the lesson showed, even if unbound from the room since.
                q = (select(File).join(Room, Room.companyid == File.companyid)
                     .where(Room.serial == row.serial, File.id.in_(sorted(shown))).order_by(File.id))
                files = list((await s.execute(q)).scalars().all())
        except Exception:
            log.exception("playback: database failure")
            return _answer(DB_ERROR, 500)
    base = str(request.base_url).rstrip("/")
    url = f"/download/record/{row.recordid}/{row.token}/"

    def where(name: str) -> str | None:
        return url + name if name in present else None

    body: dict[str, Any] = {
        "result": 0, "recordid": row.recordid, "serial": row.serial, "title": row.title,
        "starttime": row.starttime, "duration_ms": row.duration_ms,
        # 0: the outputs are still being made; a reason: making them failed (not said why here)
        "state": row.state, "video_failed": bool(row.reason),
        "events": where(EVENTS), "video": where(VIDEO), "audio": where(AUDIO),
        "pages": {m.group(1): url + n for n in sorted(present) if (m := PAGE_RE.match(n))},
        "files": [file_entry(base, f) for f in files],
    }
    return JSONResponse(body, headers=_HEADERS)
