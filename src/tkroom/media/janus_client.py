"""A small client for Janus's WebSocket API: connection, session and plugin handle.

Janus answers a request in one of two ways: synchronously (``success`` or ``error`` carrying
the transaction), or with an ``ack`` followed later by an ``event`` with the same
transaction (plugin messages that need work, such as a VideoRoom ``configure`` with an SDP
offer). Events without a transaction (``webrtcup``, ``media``, ``hangup``, plugin
notifications) are routed to the handle they name in ``sender``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

log = logging.getLogger(__name__)

Json = dict[str, Any]
EventCallback = Callable[[Json], None]


class JanusError(Exception):
    """Janus (or a plugin) refused a request; ``code`` is Janus's own error code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class JanusConnectionLost(JanusError):
    """The WebSocket to Janus closed while a request was waiting."""

    def __init__(self, reason: str = "connection to Janus lost") -> None:
        super().__init__(-1, reason)


class JanusConnection:
    """One WebSocket to one Janus server; many sessions may share it."""

    def __init__(self, ws: ClientConnection, url: str, timeout: float,
                 apisecret: str = "") -> None:
        self.ws = ws
        self.url = url
        self.timeout = timeout
        self.apisecret = apisecret
        self._pending: dict[str, tuple[asyncio.Future[Json], bool]] = {}
        self._sessions: dict[int, JanusSession] = {}
        self._counter = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, within: float = 10.0,
                      apisecret: str = "") -> JanusConnection:
        """Open the WebSocket (sub-protocol ``janus-protocol``); ``apisecret`` is sent with
        every request when the server requires one."""
        ws = await asyncio.wait_for(
            websockets.connect(url, subprotocols=[Subprotocol("janus-protocol")], max_size=None,
                               ping_interval=10, ping_timeout=10, open_timeout=within),
            within)
        return cls(ws, url, within, apisecret)

    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    async def request(self, msg: Json, *, wait_event: bool = False,
                      within: float | None = None) -> Json:
        """Send ``msg`` with a fresh transaction and return Janus's answer.

        ``wait_event``: an ``ack`` is only a receipt; wait for the ``event`` that follows.
        """
        if self.closed.done():
            raise JanusConnectionLost()
        tx = f"{self._prefix}-{next(self._counter)}"
        fut: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._pending[tx] = (fut, wait_event)
        if self.apisecret:
            msg = {**msg, "apisecret": self.apisecret}
        try:
            await self.ws.send(json.dumps({**msg, "transaction": tx}))
            return await asyncio.wait_for(fut, within or self.timeout)
        except websockets.ConnectionClosed:
            raise JanusConnectionLost() from None
        finally:
            self._pending.pop(tx, None)

    async def info(self) -> Json:
        """Janus's ``info`` answer (version, plugins, transports)."""
        return await self.request({"janus": "info"})

    async def create_session(self, keepalive: float = 25.0) -> JanusSession:
        """A new session, kept alive until it is destroyed or the connection closes."""
        ans = await self.request({"janus": "create"})
        session = JanusSession(self, int(ans["data"]["id"]), keepalive)
        self._sessions[session.id] = session
        return session

    async def close(self) -> None:
        """Close the WebSocket (Janus destroys sessions bound to it only after a timeout)."""
        await self.ws.close()
        await asyncio.wait({self._reader}, timeout=5)  # never swallows our own cancellation

    def abort(self) -> None:
        """Drop the connection at once (a server that stopped answering gets no handshake);
        every waiting request fails with ``JanusConnectionLost``."""
        self.ws.transport.abort()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                try:
                    self._dispatch(json.loads(raw))
                except Exception:
                    log.exception("bad message from Janus: %r", raw[:200])
        except websockets.ConnectionClosed:
            pass
        finally:
            for fut, _ in list(self._pending.values()):
                if not fut.done():
                    fut.set_exception(JanusConnectionLost())
            for s in list(self._sessions.values()):
                s._lost()
            if not self.closed.done():
                self.closed.set_result(None)

    def _dispatch(self, msg: Json) -> None:
        kind = msg.get("janus")
        tx = msg.get("transaction")
        waiter = self._pending.get(tx) if tx else None
        if waiter is not None:
            fut, wait_event = waiter
            if kind == "error":
                err = msg.get("error", {})
                if not fut.done():
                    fut.set_exception(JanusError(int(err.get("code", 0)), str(err.get("reason"))))
                return
            if kind == "ack" and wait_event:
                return
            if kind in ("success", "ack", "event", "server_info") and not fut.done():
                data = msg.get("plugindata", {}).get("data", {})
                if "error_code" in data:
                    fut.set_exception(JanusError(int(data["error_code"]), str(data.get("error"))))
                else:
                    fut.set_result(msg)
                return
        session = self._sessions.get(msg.get("session_id", 0))
        if session is not None:
            session._event(msg)

    def _forget(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)


class JanusSession:
    """A Janus session: keeps itself alive and owns plugin handles."""

    def __init__(self, conn: JanusConnection, session_id: int, keepalive: float) -> None:
        self.conn = conn
        self.id = session_id
        self.handles: dict[int, JanusHandle] = {}
        self.on_timeout: Callable[[], None] | None = None
        self._keepalive = asyncio.create_task(self._keep_alive(keepalive))

    async def request(self, msg: Json, **kw: Any) -> Json:
        return await self.conn.request({**msg, "session_id": self.id}, **kw)

    async def attach(self, plugin: str = "janus.plugin.videoroom") -> JanusHandle:
        """Attach a new handle to ``plugin``."""
        ans = await self.request({"janus": "attach", "plugin": plugin})
        handle = JanusHandle(self, int(ans["data"]["id"]))
        self.handles[handle.id] = handle
        return handle

    async def destroy(self) -> None:
        """Destroy the session at once rather than leaving it to Janus's session timeout."""
        self._keepalive.cancel()
        self.conn._forget(self.id)
        if self.conn.is_open:
            with contextlib.suppress(JanusError, TimeoutError):
                await self.request({"janus": "destroy"}, within=5)

    async def _keep_alive(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.request({"janus": "keepalive"})
            except JanusConnectionLost:
                return
            except (JanusError, TimeoutError) as e:
                log.warning("Janus keepalive for session %s failed: %s", self.id, e)

    def _event(self, msg: Json) -> None:
        if msg.get("janus") == "timeout":
            if self.on_timeout:
                self.on_timeout()
            return
        handle = self.handles.get(msg.get("sender", 0))
        if handle is not None:
            handle._event(msg)

    def _lost(self) -> None:
        self._keepalive.cancel()
        for h in list(self.handles.values()):
            h._event({"janus": "hangup", "reason": "connection to Janus lost"})


class JanusHandle:
    """A handle on one plugin (here the VideoRoom); one PeerConnection at most."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.on_event: EventCallback | None = None
        self.events: asyncio.Queue[Json] = asyncio.Queue(maxsize=1000)

    async def _request(self, msg: Json, **kw: Any) -> Json:
        return await self.session.request({**msg, "handle_id": self.id}, **kw)

    async def message(self, body: Json, jsep: Json | None = None, *,
                      within: float | None = None) -> tuple[Json, Json | None]:
        """Send a plugin request; return the plugin's data and the JSEP it carried, if any.

        Synchronous plugin requests (``create``, ``list``…) answer with ``success``; the
        others (``join``, ``configure``, ``start``…) with an ``ack`` then an ``event``.
        """
        msg: Json = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        ans = await self._request(msg, wait_event=True, within=within)
        return ans.get("plugindata", {}).get("data", {}), ans.get("jsep")

    async def trickle(self, candidate: Json | None) -> None:
        """Forward one ICE candidate (``None`` = end of candidates)."""
        await self._request({"janus": "trickle",
                             "candidate": candidate if candidate else {"completed": True}})

    async def hangup(self) -> None:
        with contextlib.suppress(JanusError, TimeoutError):
            await self._request({"janus": "hangup"}, within=5)

    async def detach(self) -> None:
        """Detach the handle (closes its PeerConnection inside Janus)."""
        self.session.handles.pop(self.id, None)
        if self.session.conn.is_open:
            with contextlib.suppress(JanusError, TimeoutError):
                await self._request({"janus": "detach"}, within=5)

    def _event(self, msg: Json) -> None:
        if self.on_event is not None:
            try:
                self.on_event(msg)
            except Exception:
                log.exception("Janus event callback failed")
        with contextlib.suppress(asyncio.QueueFull):
            self.events.put_nowait(msg)
