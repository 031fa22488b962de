"""``/live/<serial>/<token>/index.m3u8`` and its segments, cacheable by a CDN.

Segments never change once written (``immutable``, a year); the playlist changes every segment
(``max-age`` of half a segment), so a CDN in front serves each segment once per edge and the
playlist about twice a segment. A wrong token or a room without a stream answers 404.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tkroom.egress.live import token_ok
from tkroom.egress.live_plan import PLAYLIST, SEGMENT_NAME

_SERIAL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
CORS = {"Access-Control-Allow-Origin": "*"}


def live_routes(workdir: Path, secret: Callable[[], bytes], segment_s: float) -> list[BaseRoute]:
    """The HLS routes over ``workdir`` (``<data>/live``); ``secret()`` (the node's, final once
    it started) checks the path token."""
    playlist_cache = f"public, max-age={max(1, int(segment_s / 2))}"

    async def serve(request: Request) -> Response:
        serial = request.path_params["serial"]
        token = request.path_params["token"]
        name = request.path_params["name"]
        if not _SERIAL.match(serial) or not token_ok(secret(), serial, token):
            return _missing()
        if name == PLAYLIST:
            media, cache = PLAYLIST_TYPE, playlist_cache
        elif SEGMENT_NAME.match(name):
            media, cache = SEGMENT_TYPE, SEGMENT_CACHE
        else:
            return _missing()
        path = workdir / serial / name
        try:  # read whole: ffmpeg deletes old segments, and a half-sent file is worse
            body = await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            return _missing()
        return Response(body, media_type=media, headers={"Cache-Control": cache, **CORS})

    return [Route("/live/{serial}/{token}/{name}", serve, methods=["GET", "HEAD"])]


def _missing() -> Response:
    return PlainTextResponse("no such live stream", status_code=404,
                             headers={"Cache-Control": "no-store", **CORS})
