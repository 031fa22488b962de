"""Starlette routes that serve tkroom.js, the classroom page and the playback page; the node
mounts them.

The SDK bundle is built from web/sdk/ and shipped inside the package, so a ``pip install``
is enough to serve it: nothing here runs Node.
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tkroom import codes

STATIC_DIR = Path(__file__).parent / "static"
SDK_FILE = STATIC_DIR / "sdk" / "tkroom.js"
PAGE_FILE = STATIC_DIR / "classroom" / "index.html"
PLAYBACK_FILE = STATIC_DIR / "playback" / "index.html"

# (recordid, token) -> 0 when that record may be played, else its code (4105, 4107).
PlaybackCheck = Callable[[str, str], Awaitable[int]]

# Room serials are digits in the original; allow the letters a store might use, nothing else.
_SERIAL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# The page is plain files and talks only to its own node; it needs no third-party origin.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; frame-src 'self'; object-src 'self'; "
    "base-uri 'none'; form-action 'self'"
)


async def _sdk(request: Request) -> Response:
    return FileResponse(SDK_FILE, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


def _csp(live_origin: str) -> str:
    """The page's policy; a live stream served from elsewhere (a CDN) may be fetched too."""
    if not live_origin:
        return _CSP
    return _CSP.replace("connect-src 'self'", f"connect-src 'self' {live_origin}")


def _playback(check: PlaybackCheck | None) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        """The page, or the same page saying why it cannot play (it reads ``data-error`` and
        explains the code in the reader's language), with a 404 or 500 status."""
        code = await check(request.path_params["ident"], request.path_params["token"]) if check else 0
        text = PLAYBACK_FILE.read_text(encoding="utf-8")
        status = 200
        if code:
            status = 500 if code == int(codes.WebAPI.DATABASE_ERROR) else 404
            text = text.replace("<body>", f'<body data-error="{html.escape(str(code))}">', 1)
        headers = {"Content-Security-Policy": _CSP, "Cache-Control": "no-cache",
                   "Referrer-Policy": "no-referrer"}  # the token is in the URL
        return HTMLResponse(text, status_code=status, headers=headers)

    return page


def web_routes(playback: PlaybackCheck | None = None, live_origin: str = "") -> list[BaseRoute]:
    """``/sdk/tkroom.js``, ``/room/<serial>`` (the classroom page), ``/playback/<recordid>/
    <token>`` (a recorded lesson; ``playback`` checks the record) and their static files
    (``/classroom/``, ``/playback-page/``: a prefix of its own, so that the Web API's
    ``/playback/<recordid>/<token>/info`` is not shadowed). ``live_origin``: where live viewers
    fetch the HLS stream when not from this node (the origin of the ``live_public_url``
    setting)."""
    csp = _csp(live_origin)

    async def page(request: Request) -> Response:
        serial = request.path_params["serial"]
        if not _SERIAL.match(serial):
            code = codes.WebAPI.ROOM_NOT_EXIST
            return JSONResponse(
                {"result": int(code), "msg": codes.describe("webapi", int(code))},
                status_code=404)
        return HTMLResponse(
            PAGE_FILE.read_text(encoding="utf-8"),
            headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"},
        )

    return [
        Route("/sdk/tkroom.js", _sdk, methods=["GET", "HEAD"]),
        Route("/room/{serial}", page, methods=["GET", "HEAD"]),
        Route("/playback/{ident}/{token}", _playback(playback), methods=["GET", "HEAD"]),
        Mount("/classroom", StaticFiles(directory=STATIC_DIR / "classroom"), name="classroom"),
        Mount("/playback-page", StaticFiles(directory=STATIC_DIR / "playback"), name="playback"),
    ]
