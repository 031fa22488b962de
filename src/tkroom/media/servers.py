"""The media servers a node can place rooms on, their health, and least-loaded placement.

A server is either the node's own embedded Janus or one registered through the Web API
(``serveradd``: id, ip, capacity). The registry keeps one WebSocket and one control session
per server, notices a dead server within seconds (the socket closes, or a periodic ``info``
goes unanswered) and reports it through ``on_down`` so rooms can move.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets

from tkroom.errors import CodeError
from tkroom.media.janus_client import JanusConnection, JanusError, JanusHandle, JanusSession
from tkroom.media.placement import choose_server

log = logging.getLogger(__name__)

ERR_SWITCH_SERVER_FAILED = 151


@dataclass(eq=False)
class MediaServer:
    """One Janus server; ``capacity`` is how many PeerConnections it is given at most."""

    id: str
    url: str
    capacity: int = 500
    embedded: bool = False
    static: bool = False  # from --janus: the Web API registry sync leaves it alone, like embedded
    region: str = ""
    owner: int | None = None  # the enterprise that registered it (serveradd); None: everyone's
    secret: str = field(default="", repr=False)
    load: int = 0
    healthy: bool = False
    conn: JanusConnection | None = field(default=None, repr=False)
    session: JanusSession | None = field(default=None, repr=False)
    control: JanusHandle | None = field(default=None, repr=False)

    @property
    def free(self) -> int:
        return self.capacity - self.load

    def public(self) -> dict[str, Any]:
        """What clients may see in ``requestServerList`` (never the URL or secrets)."""
        return {"serverName": self.id, "region": self.region, "healthy": self.healthy,
                "load": self.load, "capacity": self.capacity}


def from_row(row: dict[str, Any]) -> MediaServer:
    """A server from a Web API registry row (``serverid``, ``name``, ``ip``, ``url``,
    ``maxusers`` as capacity, ``companyid`` as owner, ``apisecret``); its name is what
    ``switchServerByName`` takes."""
    sid = str(row.get("name") or row.get("serverid") or row.get("id"))
    url = row.get("url") or f"ws://{row['ip']}:{int(row.get('port') or 8188)}"
    capacity = row.get("capacity") or row.get("maxusers") or 500
    return MediaServer(id=sid, url=str(url), capacity=int(capacity),
                       region=str(row.get("region") or row.get("name") or ""),
                       secret=str(row.get("apisecret") or ""),
                       owner=int(row["companyid"]) if row.get("companyid") is not None else None)


def static_name(url: str) -> str:
    """The name of a ``--janus`` server, from its URL alone: every node of a cluster names it
    alike whatever the order of its list (the class's shared media record names the server),
    and the name does not show the URL (clients see names, never a Janus API address).
    ``ws://Host:8188/`` and ``ws://host:8188`` are one server; give every node the same
    host (name or address) for it."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "wss" else 80)
    canon = f"{scheme}://{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"
    return "janus-" + hashlib.sha256(canon.encode()).hexdigest()[:8]


ServerCallback = Callable[[MediaServer], Awaitable[None]]


class ServerRegistry:
    """The servers, their control sessions, health checks and placement."""

    def __init__(self, on_down: ServerCallback | None = None, on_up: ServerCallback | None = None,
                 check_every: float = 1.0, check_within: float = 2.0) -> None:
        self.servers: dict[str, MediaServer] = {}
        self.on_down = on_down
        self.on_up = on_up
        self.check_every = check_every
        self.check_within = check_within
        self._health: asyncio.Task[None] | None = None
        self._closing = False
        self._watchers: dict[str, asyncio.Task[None]] = {}

    async def add(self, server: MediaServer) -> MediaServer:
        """Register a server and try to connect to it (an unreachable one stays unhealthy)."""
        old = self.servers.get(server.id)
        if old is not None:
            server.load = old.load
            await self._disconnect(old)
        self.servers[server.id] = server
        await self.connect(server)
        return server

    async def sync(self, rows: Iterable[dict[str, Any]]) -> None:
        """Make the registered (non-embedded) servers match the Web API's registry rows."""
        wanted = {s.id: s for s in map(from_row, rows)}
        for sid in [k for k, s in self.servers.items()
                    if not (s.embedded or s.static) and k not in wanted]:
            await self.remove(sid)
        for sid, s in wanted.items():
            cur = self.servers.get(sid)
            if cur is None or (cur.url, cur.capacity, cur.secret, cur.owner) != \
                    (s.url, s.capacity, s.secret, s.owner):
                await self.add(s)

    async def remove(self, server_id: str) -> None:
        server = self.servers.pop(server_id, None)
        if server is not None:
            await self._disconnect(server)

    async def connect(self, server: MediaServer) -> bool:
        """(Re)open the control connection; True when the server answered."""
        await self._disconnect(server)
        try:
            server.conn = await JanusConnection.connect(server.url, within=self.check_within,
                                                        apisecret=server.secret)
            server.session = await server.conn.create_session()
            server.control = await server.session.attach()
        except (OSError, TimeoutError, JanusError, websockets.WebSocketException) as e:
            log.info("media server %s unreachable: %r", server.id, e)
            await self._disconnect(server)
            return False
        server.healthy = True
        self._watchers[server.id] = asyncio.create_task(self._watch(server, server.conn))
        if self.on_up is not None:
            try:
                await self.on_up(server)
            except Exception:
                log.exception("on_up failed for %s", server.id)
        return True

    async def _disconnect(self, server: MediaServer) -> None:
        task = self._watchers.pop(server.id, None)
        # a watcher whose socket already closed may be running on_down: let it finish
        if task is not None and task is not asyncio.current_task() and \
                server.conn is not None and server.conn.is_open:
            task.cancel()
        server.healthy = False
        conn, server.conn, server.session, server.control = server.conn, None, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def _watch(self, server: MediaServer, conn: JanusConnection) -> None:
        """Turn a closed control socket into an immediate 'down'."""
        await asyncio.shield(conn.closed)
        if server.conn is conn:
            await self._mark_down(server)

    async def _mark_down(self, server: MediaServer) -> None:
        if not server.healthy:
            return
        log.warning("media server %s is down", server.id)
        server.healthy = False
        if server.conn is not None:
            server.conn.abort()
        if self.on_down is not None:
            try:
                await self.on_down(server)
            except Exception:
                log.exception("on_down failed for %s", server.id)

    def start(self) -> None:
        """Start the periodic health check."""
        if self._health is None:
            self._health = asyncio.create_task(self._check_loop())

    async def _check_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.check_every)
            try:
                await self._check_all()
            except Exception:  # the loop must outlive any one failure
                log.exception("media server health check failed")

    async def _check_all(self) -> None:
        for server in list(self.servers.values()):
            if server.healthy and server.conn is not None:
                try:
                    await server.conn.request({"janus": "info"}, within=self.check_within)
                except (JanusError, TimeoutError):
                    await self._mark_down(server)
            elif not server.healthy:
                await self.connect(server)

    def pick(self, need: int = 1, exclude: Iterable[str] = (),
             enterprise: int | None = None) -> MediaServer:
        """The server ``placement.choose_server`` gives a class of ``enterprise``: 151 when
        there is none."""
        server = choose_server(self.servers.values(), enterprise, need=need, exclude=exclude)
        if server is None:
            raise CodeError(ERR_SWITCH_SERVER_FAILED, "no media server with free capacity",
                            namespace="error_notice")
        assert isinstance(server, MediaServer)
        return server

    async def close(self) -> None:
        self._closing = True  # ends the loop even if a cancellation gets lost in a timeout race
        if self._health is not None:
            self._health.cancel()
            await asyncio.wait({self._health}, timeout=self.check_every + 2 * self.check_within)
            self._health = None
        for server in list(self.servers.values()):
            await self._disconnect(server)
