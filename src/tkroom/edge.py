"""The node's edge: what an anonymous client may hold of it before any handler decides.

- ``ConnectionCap``: open connections per client address (HTTP and signalling each keep one),
  so one address cannot take every socket of the node.
- ``BodyLimit``: an ASGI middleware that counts request body bytes as they stream in and
  answers HTTP 413 once a route's limit is passed, whether the body announced its length or is
  chunked; nothing past the limit is read.
- ``edge_protocol``: uvicorn's h11 protocol with a deadline for a request's headers (uvicorn
  has none: a client sending one header line every few seconds would hold its socket forever)
  and the connection cap (the connection over it is answered 503).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

TOO_MANY_CONNECTIONS = 2602  # "Exceeded the maximum allowed number of times": the seed's nearest


class ConnectionCap:
    """How many connections each client address holds open; ``limit`` 0: no cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}

    def enter(self, addr: str) -> bool:
        """Count one more connection of ``addr``; False (and not counted) when it is over the cap."""
        n = self.open.get(addr, 0)
        if self.limit > 0 and n >= self.limit:
            return False
        self.open[addr] = n + 1
        return True

    def leave(self, addr: str) -> None:
        n = self.open.get(addr, 0) - 1
        if n > 0:
            self.open[addr] = n
        else:
            self.open.pop(addr, None)

    def refusal(self, addr: str) -> str:
        return f"Too many connections from {addr} (at most {self.limit})"


def _json(status: int, body: dict[str, Any], close: bool = True) -> tuple[Message, Message]:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    return ({"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": raw, "more_body": False})


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over ``limit_for(path)`` = (bytes, code) with HTTP 413.

    A body that announces a larger Content-Length is refused unread; otherwise bytes are
    counted as the app receives them and the app's next ``receive()`` past the limit raises, so
    no handler or parser ever holds more than the limit. Whatever the app then answers is
    replaced by the 413 (a parser may turn the error into an answer of its own)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], tuple[int, int]]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, code = self.limit_for(scope["path"])
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and int(length) > limit:  # h11 already refused a malformed length
            await self._refuse(send, limit, code)
            return
        received, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over and not started:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except _BodyTooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send, limit, code)

    @staticmethod
    async def _refuse(send: Send, limit: int, code: int) -> None:
        head, body = _json(413, {"result": code, "msg": f"The request body is larger than {limit} bytes"})
        await send(head)
        await send(body)


def _too_many(message: str) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        head, body = _json(503, {"result": TOO_MANY_CONNECTIONS, "msg": message})
        await send(head)
        await send(body)

    return app


_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class _EdgeProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol plus a header deadline and the per-address cap."""

    cap: ConnectionCap
    header_timeout: float

    def connection_made(self, transport: Any) -> None:
        self._header_timer: Any = None
        super().connection_made(transport)
        self._addr = self.client[0] if self.client else "?"
        self._counted = self.cap.enter(self._addr)
        if not self._counted:
            self.app = _too_many(self.cap.refusal(self._addr))  # its request gets the 503
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted:
            self._counted = False
            self.cap.leave(self._addr)
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_timer is not None and self.conn.their_state is not h11.IDLE:
            self._disarm()  # the request's headers are in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # the next request's headers get the same deadline

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()


def edge_protocol(cap: ConnectionCap, header_timeout: float) -> type[H11Protocol]:
    """The protocol class to give uvicorn (``http=``) for one node's HTTP server."""
    return type("NodeHTTPProtocol", (_EdgeProtocol,), {"cap": cap, "header_timeout": header_timeout})
