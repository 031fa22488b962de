"""One WebSocket to a node: requests matched to their acks, events handed to the room.

The connection knows the frames of ``docs/protocol.md`` section 2 and nothing of the room. It
does not reconnect by itself: when the socket goes away it calls ``on_closed`` once, and the
room decides whether to resume, rejoin or give up (that needs HTTP, which lives in the room).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable
from ssl import SSLContext
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tkroom.client.errors import (
    ROOM_LINK_FAILED,
    ROOM_NOT_CONNECT,
    SERVER_EXCEPTION,
    ClientError,
)

log = logging.getLogger(__name__)

MAX_FRAME = 16 * 1024 * 1024  # a join answer of a big room carries thousands of users

EventHandler = Callable[[str, Any, int | None], None]
ClosedHandler = Callable[["Connection", str], None]


class Connection:
    """A signalling socket: ``request()`` sends and awaits the ack; events go to ``on_event``."""

    def __init__(self, on_event: EventHandler, on_closed: ClosedHandler) -> None:
        self._on_event = on_event
        self._on_closed = on_closed
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[int, Any, str]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self.url = ""

    @property
    def open(self) -> bool:
        return self._ws is not None and not self._closing

    async def connect(self, url: str, wait: float, ssl: SSLContext | None = None) -> None:
        """Open the socket; ``ROOM_LINK_FAILED`` 2600 when the node cannot be reached (or its
        certificate is not trusted). ``ssl``: the CAs to trust for a wss:// URL."""
        self.url = url
        tls = ssl if url.startswith("wss://") else None
        try:
            self._ws = await asyncio.wait_for(
                websockets.connect(url, max_size=MAX_FRAME, open_timeout=None, ssl=tls), wait
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            raise ClientError(ROOM_LINK_FAILED, f"cannot open {url}: {exc!r}") from exc
        self._reader = asyncio.create_task(self._read(self._ws), name=f"tkroom-reader {url}")

    async def request(self, ev: str, data: dict[str, Any], wait: float) -> Any:
        """Send one request; its ack ``data``, or ClientError with the ack's code.

        No ack within ``wait`` seconds, or the socket lost before the ack, is ``Server_Exception``
        2510: the server may or may not have done it.
        """
        if self._ws is None or self._closing:
            raise ClientError(ROOM_NOT_CONNECT, f"{ev}: not connected")
        rid = next(self._ids)
        fut: asyncio.Future[tuple[int, Any, str]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._ws.send(json.dumps({"id": rid, "ev": ev, "data": data}))
            code, payload, msg = await asyncio.wait_for(fut, wait)
        except TimeoutError as exc:
            raise ClientError(SERVER_EXCEPTION, f"{ev}: no answer in {wait:g} s") from exc
        except websockets.ConnectionClosed as exc:
            raise ClientError(SERVER_EXCEPTION, f"{ev}: connection lost before the answer") from exc
        finally:
            self._pending.pop(rid, None)
        if code != 0:
            raise ClientError(code, msg, ev=ev)
        return payload

    async def close(self) -> None:
        """Close on purpose: ``on_closed`` is not called."""
        self._closing = True
        ws, reader = self._ws, self._reader
        if ws is not None:
            await ws.close()
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._fail_pending("connection closed")

    def abort(self) -> None:
        """Drop the socket at once (used by tests and by ``forceReconnect``)."""
        if self._ws is not None:
            self._ws.transport.abort()

    def _fail_pending(self, why: str) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ClientError(SERVER_EXCEPTION, why))
        self._pending.clear()

    async def _read(self, ws: ClientConnection) -> None:
        reason = "closed by the server"
        try:
            async for raw in ws:
                self._dispatch(raw)
        except websockets.ConnectionClosed as exc:
            reason = f"connection lost ({exc})"
        except Exception as exc:  # a bug in a handler must not hide the disconnection
            log.exception("reader failed")
            reason = f"reader failed: {exc!r}"
        finally:
            self._ws = None
            self._fail_pending(reason)
            if not self._closing:
                self._on_closed(self, reason)

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("ignoring a frame that is not JSON: %.80r", raw)
            return
        if not isinstance(frame, dict):
            return
        if "ack" in frame:
            fut = self._pending.get(frame["ack"]) if frame["ack"] is not None else None
            if fut is not None and not fut.done():
                code = frame.get("code", SERVER_EXCEPTION)
                if not isinstance(code, int):
                    code = SERVER_EXCEPTION
                fut.set_result((code, frame.get("data"), str(frame.get("msg") or "")))
            elif frame["ack"] is None:
                log.warning("server refused a frame: %s %s", frame.get("code"), frame.get("msg"))
            return
        ev = frame.get("ev")
        if isinstance(ev, str):
            s = frame.get("s")
            self._on_event(ev, frame.get("data"), s if isinstance(s, int) else None)
