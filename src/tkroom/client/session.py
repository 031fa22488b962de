"""The life of one stay in a room: join, requests, resume or rejoin with backoff, leave.

A ``Session`` owns the socket and the HTTP client. It joins (``checkroom`` + ``getconfig`` then
``joinRoom``, or a ticket straight on the socket), feeds every server event to the
``RoomMirror`` and emits what the mirror answers, and when the socket drops resumes the session
on a new socket (nobody in the room notices) or, when the server has forgotten it, joins again.
The ``Room`` facade validates the application's arguments and owns the public API.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tkroom.client import events as E
from tkroom.client.connection import Connection
from tkroom.client.errors import (
    INVALID_STATUS,
    MAX_ATTEMPTS_EXCEEDED,
    ROOM_NOT_CONNECT,
    ClientError,
)
from tkroom.client.events import EventBus
from tkroom.client.http import ClientAPI
from tkroom.client.mirror import RoomMirror
from tkroom.tasks import spawn

log = logging.getLogger(__name__)

RESUMABLE_GONE = 102  # the server no longer knows the session: join again

# room-connect-fail's ``source``, as in the original SDK: which step of joining failed
SOURCE_SOCKET, SOURCE_GETCONFIG, SOURCE_CHECKROOM = 0, 1, 3

RawListener = Callable[[str, dict[str, Any], int | None], None]
TicketSource = str | Callable[[], Awaitable[str]]


class State(enum.Enum):
    UNINITIALIZED = "uninitialized"
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


@dataclass(slots=True)
class Options:
    """What ``init`` sets. ``max_reconnect_attempts`` None means: try for ever (the original)."""

    request_timeout: float = 10.0
    http_timeout: float = 10.0
    connect_timeout: float = 5.0
    reconnect: bool = True
    max_reconnect_attempts: int | None = None
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    secure: bool = False  # joinroom(host, port) over https:// (the node serves TLS)
    # trusted CAs for https:// and wss:// (a private CA); None: the system's
    ssl_context: ssl.SSLContext | None = None
    signal_urls: tuple[str, ...] = ()  # other nodes to try when ours is gone (a cluster)


@dataclass(slots=True)
class JoinArgs:
    """How to get credentials again for a fresh join: the HTTP ``checkroom`` fields, or a ticket
    (or a coroutine function giving one) for ``joinroomEx``."""

    properties: dict[str, Any]
    serial: str = ""
    nickname: str = ""
    userid: str | None = None
    password: str | None = None
    loginkey: str | None = None
    userrole: Any = None
    ticket: TicketSource = ""


class Session:
    """Connection state of a ``Room``: the state machine of ``State`` and the reconnection."""

    def __init__(self, bus: EventBus, mirror: RoomMirror) -> None:
        self._bus = bus
        self._mirror = mirror
        self.state = State.UNINITIALIZED
        self.opts = Options()
        self._conn: Connection | None = None
        self._api: ClientAPI | None = None
        self._join_args = JoinArgs(properties={})
        self._signal_url = ""
        self._alternates: list[str] = []  # every node's signalling URL we have been told of
        self._connected = asyncio.Event()
        self._reconnector: asyncio.Task[None] | None = None
        self._raw_listeners: list[RawListener] = []
        # TURN servers from the last getconfig (RTCConfiguration form): the media side reads them
        self.ice_servers: list[dict[str, Any]] = []

    def configure(self, opts: Options) -> None:
        self.opts = opts
        self.state = State.IDLE

    def add_listener(self, listener: RawListener) -> None:
        self._raw_listeners.append(listener)

    # ---- joining and leaving -----------------------------------------------------------------

    async def enter_http(self, base: str, args: JoinArgs) -> dict[str, Any]:
        """Join through ``checkroom`` and ``getconfig`` of the node at ``base``."""
        self._join_args = args
        self._api = ClientAPI(base, timeout=self.opts.http_timeout, ssl=self.opts.ssl_context)
        return await self._enter()

    async def enter_ticket(self, url: str, args: JoinArgs) -> dict[str, Any]:
        """Join with a ticket straight on the signalling socket ``url``."""
        self._join_args = args
        self._signal_url = url
        return await self._enter()

    async def _enter(self) -> dict[str, Any]:
        self.state = State.CONNECTING
        try:
            answer = await self._join_fresh()
        except ClientError as exc:
            await self.teardown()
            self._bus.emit(E.ROOM_CONNECT_FAIL, {"code": exc.code, "error": exc.message,
                                                 "source": exc.extra.get("source", SOURCE_SOCKET)})
            raise
        except BaseException:
            await self.teardown()
            raise
        self.state = State.CONNECTED
        self._connected.set()
        self._bus.emit(
            E.ROOM_CONNECTED,
            {"message": self._mirror.messages(), "userlist": self._mirror.all_users(),
             "self": self._mirror.myself()},
        )
        return answer

    async def _credentials(self) -> tuple[str, dict[str, Any]]:
        """Where to connect and the joinRoom proof: checkroom + getconfig, or the given ticket."""
        a, api = self._join_args, self._api
        join: dict[str, Any] = {"properties": a.properties}
        if api is None:
            tk = a.ticket
            join["ticket"] = tk if isinstance(tk, str) else await tk()
            return self._signal_url, join
        try:
            checked = await api.checkroom(
                a.serial, a.nickname, password=a.password, loginkey=a.loginkey,
                userid=a.userid, userrole=a.userrole,
            )
        except ClientError as exc:
            exc.extra.setdefault("source", SOURCE_CHECKROOM)
            raise
        try:
            config = await api.getconfig(a.serial, checked.get("roomrole"), checked.get("ticket"))
        except ClientError as exc:
            exc.extra.setdefault("source", SOURCE_GETCONFIG)
            raise
        url = self._learn_urls(config)
        if not url:
            raise ClientError(INVALID_STATUS, "getconfig gave no signal url")
        ice = config.get("iceServers")
        self.ice_servers = [s for s in ice if isinstance(s, dict)] if isinstance(ice, list) else []
        if checked.get("ticket"):
            join["ticket"] = checked["ticket"]
        elif a.loginkey:
            join.update(serial=a.serial, loginkey=a.loginkey)
        else:
            raise ClientError(INVALID_STATUS, "checkroom gave no join ticket")
        return url, join

    def _learn_urls(self, config: Mapping[str, Any]) -> str:
        """The signalling URL of a getconfig answer; its ``signal.urls`` (other nodes of a
        cluster) are kept to fall back on."""
        sig = config.get("signal") or {}
        url = sig.get("url") if isinstance(sig, Mapping) else None
        others = sig.get("urls") if isinstance(sig, Mapping) else None
        for u in [url, *(others if isinstance(others, list) else [])]:
            if isinstance(u, str) and u and u not in self._alternates:
                self._alternates.append(u)
        return url if isinstance(url, str) else ""

    async def _join_fresh(self) -> dict[str, Any]:
        """Socket + joinRoom with fresh credentials; replaces the mirror's state."""
        url, join = await self._credentials()
        self._signal_url = url
        conn = await self._open_socket(url)
        try:
            answer = await conn.request("joinRoom", join, self.opts.request_timeout)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._mirror.load(answer)
        return answer

    async def _open_socket(self, url: str) -> Connection:
        conn = Connection(self.on_event, self._on_closed)
        await conn.connect(url, self.opts.connect_timeout, ssl=self.opts.ssl_context)
        return conn

    async def leave(self) -> None:
        """Say ``leaveRoom`` when the socket is open, then close everything."""
        conn = self._conn
        if conn is not None and conn.open:
            with contextlib.suppress(ClientError):
                await conn.request("leaveRoom", {}, self.opts.request_timeout)
        await self.teardown()

    async def teardown(self) -> None:
        self.state = State.IDLE
        self._connected.clear()
        task, self._reconnector = self._reconnector, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
        api, self._api = self._api, None
        if api is not None:
            await api.aclose()
        self._mirror.session = {}
        self._alternates = []

    # ---- requests ----------------------------------------------------------------------------

    async def request(self, ev: str, data: dict[str, Any]) -> Any:
        """Send once connected; waits out a reconnection (up to the request timeout)."""
        if self.state in (State.IDLE, State.CONNECTING):
            raise ClientError(ROOM_NOT_CONNECT, f"{ev}: not in a room")
        if self.state is State.RECONNECTING:
            try:
                await asyncio.wait_for(self._connected.wait(), self.opts.request_timeout)
            except TimeoutError as exc:
                raise ClientError(ROOM_NOT_CONNECT, f"{ev}: still reconnecting") from exc
        if self._conn is None:
            raise ClientError(ROOM_NOT_CONNECT, f"{ev}: not in a room")
        return await self._conn.request(ev, data, self.opts.request_timeout)

    def drop_connection(self) -> None:
        """Cut the socket as a network failure would (reconnection follows)."""
        if self._conn is not None:
            self._conn.abort()

    # ---- server events -----------------------------------------------------------------------

    def on_event(self, ev: str, data: Any, s: int | None) -> None:
        """One server event: through the mirror, then to the application and the listeners."""
        applied = self._mirror.apply(ev, data, s)
        if applied is None:
            return  # already processed (replayed by a resume)
        body = data if isinstance(data, dict) else {}
        for name, message in applied.events:
            self._bus.emit(name, message)
        if applied.evicted:
            self.state = State.IDLE
            self._connected.clear()
            spawn(self._finish_evicted(), name="tkroom-evicted")
        if ev == "forceReconnect":
            log.info("server asks to reconnect: %s", body.get("reason"))
            self.drop_connection()
        for listener in self._raw_listeners:
            try:
                listener(ev, body, s)
            except Exception:
                log.exception("listener for %s failed", ev)

    async def _finish_evicted(self) -> None:
        await self.teardown()
        self._bus.emit(E.ROOM_LEAVEROOM, {"reason": "evicted"})

    # ---- reconnection ------------------------------------------------------------------------

    def _on_closed(self, conn: Connection, reason: str) -> None:
        if conn is not self._conn or self.state is not State.CONNECTED:
            return
        self._connected.clear()
        if not self.opts.reconnect:
            self._conn = None
            spawn(self._give_up(ROOM_NOT_CONNECT, reason), name="tkroom-give-up")
            return
        self.state = State.RECONNECTING
        self._reconnector = asyncio.create_task(self._reconnect(reason), name="tkroom-reconnect")

    async def _give_up(self, code: int, reason: str) -> None:
        await self.teardown()
        self._bus.emit(E.ERROR_NOTICE, {"code": code, "msg": reason})
        self._bus.emit(E.ROOM_DISCONNECTED, {"code": code, "reason": reason})

    async def _reconnect(self, reason: str) -> None:
        """Resume the session on a new socket; rejoin when the server forgot it."""
        delay = self.opts.backoff_initial
        attempt = 0
        last_error = reason
        while True:
            attempt += 1
            limit = self.opts.max_reconnect_attempts
            if limit is not None and attempt > limit:
                self._reconnector = None
                await self._give_up(
                    MAX_ATTEMPTS_EXCEEDED, f"gave up after {limit} attempts: {last_error}"
                )
                return
            self._bus.emit(E.ROOM_RECONNECTING, {"number": attempt, "reason": last_error})
            try:
                resumed = await self._reconnect_once(attempt)
            except ClientError as exc:
                last_error = f"{exc.code}: {exc.message}"
                log.info("reconnect attempt %d failed: %s", attempt, last_error)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.opts.backoff_max)
                continue
            self._reconnector = None
            self.state = State.CONNECTED
            self._connected.set()
            self._bus.emit(
                E.ROOM_RECONNECTED,
                {"resumed": resumed, "number": attempt, "userlist": self._mirror.all_users(),
                 "message": self._mirror.messages()},
            )
            return

    async def _reconnect_once(self, attempt: int) -> bool:
        """One attempt: True when the session resumed, False when it had to join afresh.

        The URL: what getconfig says now (or the node we were on) first, then the other nodes
        we know of in turn, so that the users of a stopped node move to another one.
        """
        old = self._conn
        self._conn = None
        if old is not None:
            await old.close()
        first = self._signal_url
        if self._api is not None:
            with contextlib.suppress(ClientError):
                first = self._learn_urls(await self._api.getconfig(self._join_args.serial))
                first = first or self._signal_url
        known = [first] + [u for u in (*self._alternates, *self.opts.signal_urls) if u != first]
        url = known[(attempt - 1) % len(known)]
        self._signal_url = url
        conn = await self._open_socket(url)
        mirror = self._mirror
        try:
            if mirror.session:
                try:
                    self._conn = conn
                    await conn.request(
                        "resume",
                        {"session": mirror.session.get("id"), "token": mirror.session.get("token"),
                         "last": mirror.last_s},
                        self.opts.request_timeout,
                    )
                    return True
                except ClientError as exc:
                    if exc.code != RESUMABLE_GONE:
                        raise
                    self._conn = None
            await conn.close()
            before, group = mirror.users, mirror.group
            await self._join_fresh()
            if group and self._conn is not None:  # a fresh session starts in no group
                with contextlib.suppress(ClientError):
                    await self._conn.request("joinGroup", {"groupid": group},
                                             self.opts.request_timeout)
                    mirror.set_group(group)
            for name, message in mirror.diff(before):  # who came and went while we were away
                self._bus.emit(name, message)
            return False
        except BaseException:
            self._conn = None
            await conn.close()
            raise
