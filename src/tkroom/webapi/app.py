"""The Starlette application: dispatch, error mapping, downloads and the OpenAPI document.

Every answer of /WebAPI and /ClientAPI is HTTP 200 with ``{"result": code, ...}``: a
CodeError becomes its code, a database failure 4107 (5206 when a write was refused), anything
unexpected is logged with its stack trace and answered 2510 (server exception) - never a 500.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.applications import Starlette
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tkroom.config import Settings
from tkroom.edge import BodyLimit
from tkroom.errors import CodeError
from tkroom.logs import AccessLog
from tkroom.metrics import UNKNOWN
from tkroom.rooms.courseware import DONE, PDF_NAME, is_output
from tkroom.storage.base import StorageError, pages_prefix
from tkroom.store.models import File, Record
from tkroom.webapi import (  # noqa: F401 - registers every method
    classrecords,
    clientapi,
    companies,
    files,
    groups,
    history,
    login,
    rooms,
    servers,
)
from tkroom.webapi.openapi import openapi_document
from tkroom.webapi.params import MAX_ID, parse
from tkroom.webapi.playback import playback_info, record_file_key
from tkroom.webapi.registry import METHODS, Call
from tkroom.webapi.state import ApiState

log = logging.getLogger("tkroom.webapi")

try:  # asyncpg raises its own errors (and OSError) when the server is gone
    from asyncpg.exceptions import PostgresError as _PgError
except ImportError:  # pragma: no cover
    _PgError = OSError
DB_ERRORS = (SQLAlchemyError, OSError, _PgError, TimeoutError, ConnectionError)


def answer(code: int, message: str = "", **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"result": code}
    if message:
        body["msg"] = message
    body.update(extra)
    return JSONResponse(body)


async def _dispatch(request: Request, api: str) -> Response:
    """Answer one call, counted by method (only the registry's names: a client cannot make
    up labels) and result code."""
    state: ApiState = request.app.state.api
    started = time.perf_counter()
    code, response = await _answer_call(request, api, state)
    if state.metrics is not None:
        name = request.path_params["method"]
        label = f"{api}/{name}" if (api, name) in METHODS else UNKNOWN
        state.metrics.observe_webapi(label, code, time.perf_counter() - started)
    return response


async def _answer_call(request: Request, api: str, state: ApiState) -> tuple[int, Response]:
    """The call's result code and its answer."""
    name = request.path_params["method"]
    m = METHODS.get((api, name))
    if m is None:
        return 4105, JSONResponse({"result": 4105, "msg": f"No method {api}/{name}"},
                                  status_code=404)
    try:
        p = await parse(request, request.path_params.get("rest", ""))
        call = Call(p, state, request)
        try:
            result = await m.handler(call)
        except BaseException:
            await call.finish(ok=False)
            raise
        await call.finish(ok=True)
        return 0, JSONResponse({"result": 0, **result})
    except CodeError as e:
        return e.code, answer(e.code, e.message, **e.extra)
    except IntegrityError:
        log.exception("%s/%s: write refused", api, name)
        return 5206, answer(5206, "Data write failed")
    except DB_ERRORS:
        log.exception("%s/%s: database failure", api, name)
        return 4107, answer(4107, "Database operation error")
    except Exception:
        log.exception("%s/%s: unexpected failure", api, name)
        return 2510, answer(2510, "Server exception")


async def webapi(request: Request) -> Response:
    return await _dispatch(request, "WebAPI")


async def clientapi_endpoint(request: Request) -> Response:
    return await _dispatch(request, "ClientAPI")


async def download_file(request: Request) -> Response:
    """A courseware file; the random token in the path is what grants access."""
    return await _download(request, File, _file_id)


async def download_page(request: Request) -> Response:
    """A converted document's page image, thumbnail or PDF (``tkroom.rooms.courseware``
    names them), under the file's own token."""
    part = request.path_params["part"]

    def pick(row: File) -> tuple[str, str] | None:
        if not (row.conversion and row.status == DONE and is_output(part, row.pagenum)):
            return None
        name = Path(row.filename).stem + ".pdf" if part == PDF_NAME else part
        return pages_prefix(row.path) + part, name

    return await _download(request, File, _file_id, pick, PAGE_HEADERS)


async def download_record(request: Request) -> Response:
    return await _download(request, Record, _record_id)


async def download_record_file(request: Request) -> Response:
    """One file of a recording (``events.jsonl``, ``composite.mp4``, ``audio.m4a``, a page
    image...), under the record's token: only the names the egress plane listed for that
    record (``Record.files``), beside its main output (``Record.path``, whose key they share
    the prefix of)."""
    part = request.path_params["part"]

    def pick(row: Record) -> tuple[str, str] | None:
        if part not in (row.files or []) or "/" in part or part.startswith("."):
            return None
        return record_file_key(row, part), part

    return await _download(request, Record, _record_id, pick, RECORD_HEADERS)


def _file_id(raw: str) -> int | None:
    """A file id as the store keeps it (a 32-bit integer column), else None."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    n = int(raw)
    return n if 0 < n <= MAX_ID else None


def _record_id(raw: str) -> str | None:
    return raw if 0 < len(raw) <= 64 and "\x00" not in raw else None


# What a browser may show inline: formats it renders without running anything of the file's
# on the node's origin. Everything else (HTML, SVG, XML, scripts, office files...) downloads.
INLINE_TYPES = {
    "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
    "gif": "image/gif", "webp": "image/webp", "bmp": "image/bmp", "mp3": "audio/mpeg",
    "m4a": "audio/mp4", "wav": "audio/wav", "ogg": "audio/ogg", "mp4": "video/mp4",
    "webm": "video/webm", "txt": "text/plain; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
# Whatever a user file holds, it gets no script, no plugin, no origin of its own to act from.
USER_FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; media-src 'self'; "
                               "style-src 'unsafe-inline'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


# A recording's outputs never change under their URL once listed; a media player reads them in
# ranges (FileResponse answers Range requests).
RECORD_HEADERS = {**USER_FILE_HEADERS, "Cache-Control": "private, max-age=3600"}

# A converted page never changes under its URL (a new upload gets a new token): every student's
# browser keeps it rather than asking again at each page turn.
PAGE_HEADERS = {**USER_FILE_HEADERS, "Cache-Control": "private, max-age=86400"}


def user_file_type(filename: str) -> tuple[str, str]:
    """(media type, disposition) a user file is served with, from its name only: the bytes
    are the uploader's, so they never choose how the browser treats them."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    inline = INLINE_TYPES.get(ext)
    return (inline, "inline") if inline else ("application/octet-stream", "attachment")


class _AnyPath(PathConvertor):
    """Like ``path``, but across newlines too: Starlette's ``.*`` stops at a newline, so a
    download path holding one (``%0A``) matched no route and met the router's slash redirect or
    its plain-text 404 instead of our answer."""

    regex = "(?s:.*)"


register_url_convertor("anypath", _AnyPath())


async def no_such_file(request: Request) -> Response:
    """Any other path under /download/: the same answer as a wrong token, never a redirect."""
    return JSONResponse({"result": 4105, "msg": "No such file"}, status_code=404)


def _whole(row: Any) -> tuple[str, str]:
    return row.path, getattr(row, "filename", None) or os.path.basename(row.path)


async def storage_unavailable(request: Request) -> Response:
    """The storage failed (not the file missing): the same shape as a missing file's answer,
    but 503, so that neither a browser nor a cache takes the file for gone."""
    return JSONResponse({"result": 4105, "msg": "The file storage is unavailable; try again later"},
                        status_code=503)


async def _download(request: Request, model: type, conv: Callable[[str], Any],
                    pick: Callable[[Any], tuple[str, str] | None] = _whole,
                    headers: dict[str, str] = USER_FILE_HEADERS) -> Response:
    """A user file or recording (or, by ``pick``, one of its parts: storage key and download
    name), served from the node's storage so that nothing in it runs on the node's origin."""
    state: ApiState = request.app.state.api
    ident = conv(request.path_params["ident"])
    row = None
    if ident is not None:
        try:
            async with state.sessions() as s:
                row = await s.get(model, ident)
        except DB_ERRORS:
            log.exception("download: database failure")
            return answer(4107, "Database operation error")
    token = request.path_params["token"].encode("utf-8", "surrogateescape")
    if row is None or not hmac.compare_digest(row.token.encode(), token):
        return await no_such_file(request)
    target = pick(row)
    if target is None:
        return await no_such_file(request)
    key, name = target
    media_type, disposition = user_file_type(name)
    try:
        served = await state.storage.response(request, key, filename=name, media_type=media_type,
                                              disposition=disposition, headers=dict(headers))
    except (StorageError, OSError):
        log.exception("download of %s: the storage failed", key)
        return await storage_unavailable(request)
    return served if served is not None else await no_such_file(request)


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi_document(str(request.base_url).rstrip("/")))


def routes() -> list[BaseRoute]:
    methods = ["GET", "POST"]
    return [
        Route("/WebAPI/{method}", webapi, methods=methods),
        Route("/WebAPI/{method}/{rest:path}", webapi, methods=methods),
        Route("/ClientAPI/{method}", clientapi_endpoint, methods=methods),
        Route("/ClientAPI/{method}/{rest:path}", clientapi_endpoint, methods=methods),
        Route("/download/file/{ident}/{token}", download_file, methods=["GET"]),
        Route("/download/file/{ident}/{token}/{part}", download_page, methods=["GET"]),
        Route("/download/record/{ident}/{token}", download_record, methods=["GET"]),
        Route("/download/record/{ident}/{token}/{part}", download_record_file, methods=["GET"]),
        Route("/download/{rest:anypath}", no_such_file, methods=["GET"]),
        Route("/playback/{ident}/{token}/info", playback_info, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]


def body_limits(settings: Settings) -> Callable[[str], tuple[int, int]]:
    """Per path: how many body bytes a request may send, and the code that refuses more. The
    multipart methods (uploadfile) take the configured file limit plus room for their fields
    and answer 5206 (the file is not written); every other body is form fields:
    ``max_body_bytes`` (1 MiB), 4105 (a body the node cannot take, like one it cannot parse)."""
    uploads = tuple(f"/{api}/{name}" for (api, name), m in METHODS.items() if m.multipart)

    def limit_for(path: str) -> tuple[int, int]:
        if any(path == u or path.startswith(u + "/") for u in uploads):
            return settings.max_upload_bytes + settings.max_body_bytes, 5206
        return settings.max_body_bytes, 4105

    return limit_for


def build_app(state: ApiState, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The node's HTTP application; ``extra_routes`` come first so other planes can add pages."""
    # the access log outermost, so that it sees every answer, the body limit's 413 included
    logged = [Middleware(AccessLog)] if state.settings.access_log else []
    app = Starlette(routes=[*(extra_routes or []), *routes()],
                    middleware=[*logged, Middleware(BodyLimit, limit_for=body_limits(state.settings))])
    app.state.api = state
    return app
