"""What the playback page (``/playback/<recordid>/<token>``, docs/recordings.md) needs to play
a recorded lesson: the record's title and times, the download URLs of its event log and of the
media its record lists (``composite.mp4``, else ``audio.m4a``; stored, so any node of a cluster
answers alike), the courseware pages the recording kept (``page-<fileid>_<page>.jpg``) and, for pages it
did not keep, the courseware files the lesson showed, with their page images (the log names
files by id only). The record's random token grants all of it, as it grants the downloads, and
nothing more: a file the lesson never showed is not listed."""

from __future__ import annotations

import asyncio
import hmac
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tkroom import codes
from tkroom.rooms.playback import KEPT_PAGE, shown_files
from tkroom.storage.base import Storage, StorageError
from tkroom.store.models import File, Record, Room
from tkroom.webapi.files import file_entry

log = logging.getLogger(__name__)

EVENTS = "events.jsonl"
VIDEO = "composite.mp4"
AUDIO = "audio.m4a"
NO_DATA = int(codes.WebAPI.NO_MATCHING_DATA)
DB_ERROR = int(codes.WebAPI.DATABASE_ERROR)
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_SHOWN_CACHE = 256  # event logs whose shown files are remembered (by key and size)
_shown: dict[tuple[str, int], frozenset[int]] = {}


def record_file_key(row: Record, name: str) -> str:
    """The storage key of one of a record's files: beside its main output (``Record.path``,
    a key, or an absolute path in rows written before storage, which a folder opens as is)."""
    return row.path.rsplit("/", 1)[0] + "/" + name


def _read_shown(path: Path) -> frozenset[int]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return frozenset(shown_files(f))


async def _shown_in(storage: Storage, key: str) -> frozenset[int] | None:
    """``shown_files`` of a stored log, read once per version of it (a long lesson's log is
    tens of megabytes; the page asks at each opening; a log only grows); None when there is
    no log. On S3 the log is fetched into a temporary file to be read."""
    size = await storage.size(key)
    if size is None:
        return None
    cached = _shown.get((key, size))
    if cached is not None:
        return cached
    local = await storage.local_path(key)
    if local is not None:
        ids = await asyncio.to_thread(_read_shown, local)
    else:
        tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="tkroom-log-"))
        try:
            await storage.fetch(key, tmp / EVENTS)
            ids = await asyncio.to_thread(_read_shown, tmp / EVENTS)
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
    if len(_shown) >= _SHOWN_CACHE:
        _shown.pop(next(iter(_shown)))
    _shown[(key, size)] = ids
    return ids


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
    # what the record's token downloads, as the egress plane listed it (stored by then)
    present = {n for n in row.files or [] if "/" not in n}
    shown: frozenset[int] | None = None
    if EVENTS in present:
        try:
            shown = await _shown_in(state.storage, record_file_key(row, EVENTS))
        except (OSError, StorageError):
            log.warning("playback %s: the event log cannot be read", row.recordid)
            shown = frozenset()
        if shown is None:  # not made (yet) or not stored: no log to play
            present.discard(EVENTS)
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
        "pages": {m.group(1): url + n for n in sorted(present) if (m := KEPT_PAGE.match(n))},
        "files": [file_entry(base, f) for f in files],
    }
    return JSONResponse(body, headers=_HEADERS)
