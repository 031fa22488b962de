"""The Starlette application: dispatch, error mapping, downloads and the OpenAPI document.

Every answer of /WebAPI and /ClientAPI is HTTP 200 with ``{"result": code, ...}``: a
CodeError becomes its code, a database failure 4107 (5206 when a write was refused), anything
unexpected is logged with its stack trace and answered 2510 (server exception) - never a 500.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tkroom.errors import CodeError
from tkroom.store.models import File, Record
from tkroom.webapi import clientapi, companies, files, groups, history, login, rooms, servers  # noqa: F401
from tkroom.webapi.openapi import openapi_document
from tkroom.webapi.params import parse
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
    state: ApiState = request.app.state.api
    name = request.path_params["method"]
    m = METHODS.get((api, name))
    if m is None:
        return JSONResponse({"result": 4105, "msg": f"No method {api}/{name}"}, status_code=404)
    try:
        p = await parse(request, request.path_params.get("rest", ""), state.settings.max_upload_bytes)
        call = Call(p, state, request)
        try:
            result = await m.handler(call)
        except BaseException:
            await call.finish(ok=False)
            raise
        await call.finish(ok=True)
        return JSONResponse({"result": 0, **result})
    except CodeError as e:
        return answer(e.code, e.message, **e.extra)
    except IntegrityError:
        log.exception("%s/%s: write refused", api, name)
        return answer(5206, "Data write failed")
    except DB_ERRORS:
        log.exception("%s/%s: database failure", api, name)
        return answer(4107, "Database operation error")
    except Exception:
        log.exception("%s/%s: unexpected failure", api, name)
        return answer(2510, "Server exception")


async def webapi(request: Request) -> Response:
    return await _dispatch(request, "WebAPI")


async def clientapi_endpoint(request: Request) -> Response:
    return await _dispatch(request, "ClientAPI")


async def download_file(request: Request) -> Response:
    """A courseware file; the random token in the path is what grants access."""
    return await _download(request, File, "id", int, inline=True)


async def download_record(request: Request) -> Response:
    return await _download(request, Record, "recordid", str)


async def _download(request: Request, model: type, key: str, conv: type, *,
                    inline: bool = False) -> Response:
    """``inline``: the browser shows it (courseware in the classroom page's viewer)."""
    state: ApiState = request.app.state.api
    try:
        ident = conv(request.path_params["ident"])
        async with state.sessions() as s:
            row = await s.get(model, ident)
    except ValueError:
        row = None
    except DB_ERRORS:
        log.exception("download: database failure")
        return answer(4107, "Database operation error")
    exists = row is not None and await asyncio.to_thread(os.path.isfile, row.path)
    if not exists or not hmac.compare_digest(row.token, request.path_params["token"]):
        return JSONResponse({"result": 4105, "msg": "No such file"}, status_code=404)
    name = getattr(row, "filename", None) or os.path.basename(row.path)
    return FileResponse(row.path, filename=name,
                        content_disposition_type="inline" if inline else "attachment")


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
        Route("/download/record/{ident}/{token}", download_record, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]


def build_app(state: ApiState, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The node's HTTP application; ``extra_routes`` come first so other planes can add pages."""
    app = Starlette(routes=[*(extra_routes or []), *routes()])
    app.state.api = state
    return app
