"""Starlette routes that serve tkroom.js and the classroom page; the node mounts them.

The SDK bundle is built from web/sdk/ and shipped inside the package, so a ``pip install``
is enough to serve it: nothing here runs Node.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tkroom import codes

STATIC_DIR = Path(__file__).parent / "static"
SDK_FILE = STATIC_DIR / "sdk" / "tkroom.js"
PAGE_FILE = STATIC_DIR / "classroom" / "index.html"

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


def web_routes(live_origin: str = "") -> list[BaseRoute]:
    """``/sdk/tkroom.js``, ``/room/<serial>`` (the classroom page) and its static files.
    ``live_origin``: where live viewers fetch the HLS stream when not from this node (the
    origin of the ``live_public_url`` setting)."""
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
        Mount("/classroom", StaticFiles(directory=STATIC_DIR / "classroom"), name="classroom"),
    ]
