"""A tkroom node: the store, the HTTP app under uvicorn, and the services of the other planes.

Other planes plug in without touching this file: they append objects with async
``start()``/``stop()`` to ``node.services`` (started in order before HTTP opens, stopped after
it closes, in reverse order) and Starlette routes to ``node.routes`` before ``start()``; they
add readiness checks to ``node.readiness``, metrics to ``node.metrics`` and, to ``node.on_drain``,
what to do once a stopping node has been taken out of the load balancers (the signalling
server tells its clients to reconnect elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from tkroom.config import Settings
from tkroom.edge import ConnectionCap, edge_protocol
from tkroom.health import Readiness, ops_routes
from tkroom.metrics import NodeMetrics
from tkroom.passwords import HashParams, PasswordChecker
from tkroom.storage import Storage, open_storage
from tkroom.store.directory import SqlRoomDirectory
from tkroom.store.engine import make_engine, migrate, sessionmaker
from tkroom.store.roomcache import RoomCache
from tkroom.store.secret import shared_secret
from tkroom.store.webhooks import WebhookWorker
from tkroom.tls import TlsFiles
from tkroom.webapi.app import build_app
from tkroom.webapi.shared import RedisThrottle, Shared
from tkroom.webapi.state import ApiState
from tkroom.webapi.throttle import Throttle

log = logging.getLogger("tkroom.node")
# aiosqlite logs every statement with its parameters (keys, hashes) at DEBUG: never let it.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


class Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Node:
    """One tkroom process. ``await start()``, then ``node.port`` is the bound HTTP port.

    ``node.secret`` is final once ``start()`` returns: nodes sharing a PostgreSQL database adopt
    the cluster's secret from it.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        # before anything else: half a TLS pair or unreadable files stop start-up in one line
        self.tls = TlsFiles.from_settings(settings)
        self.secret: bytes = settings.secret()
        # before the store, for the same reason: an S3 storage without a bucket stops start-up
        self.storage: Storage = open_storage(settings)
        self.engine: AsyncEngine = make_engine(settings.db_url)
        self.sessions = sessionmaker(self.engine)
        self.webhooks = WebhookWorker(self.sessions, settings.callback_delays_s, settings.callback_timeout_s)
        self.rooms = RoomCache(settings.room_cache_ttl_s)
        self.directory = SqlRoomDirectory(self.sessions, self.webhooks, self.rooms)
        self._shared: Shared | None = None
        self.api = ApiState(
            settings=settings,
            secret=self.secret,
            sessions=self.sessions,
            checker=self._checker(),
            throttle=self._throttle(),
            rooms=self.rooms,
            node_id=settings.node_id(),
            shared=self._shared,
            storage=self.storage,
        )
        self.metrics = NodeMetrics()
        self.api.metrics = self.metrics
        self.readiness = Readiness()
        self.readiness.add("database", self._database_check)
        self.readiness.add("storage", self.storage.check)
        self.metrics.probe("webhooks", self._webhook_probe)
        self.on_drain: list[Callable[[], Awaitable[None]]] = []
        self._drain_cut = asyncio.Event()
        self.services: list[Service] = [self.tls] if self.tls else []
        self.signal: Any = None  # the signalling server, when tkroom.planes wired one
        self.media: Any = None   # the media plane, likewise
        self.turn: Any = None    # the TURN plane, likewise
        self.egress: Any = None  # the egress plane (recordings' outputs), likewise
        self.live: Any = None  # the live compositor (tkroom.egress.live_plane), when installed
        self.routes: list[BaseRoute] = []
        self.app: Starlette | None = None
        self.port: int = settings.port
        self._server: uvicorn.Server | None = None
        self._serve_task: asyncio.Task[Any] | None = None
        self._started: list[Service] = []

    def _throttle(self) -> Throttle:
        """In Redis when the cluster has one, so that N nodes slow a guesser as one does."""
        s = self.settings
        if not s.redis_url:
            return Throttle(s.throttle_base_s, s.throttle_max_s)
        self._shared = Shared(s.redis_url)
        return RedisThrottle(self._shared, s.throttle_base_s, s.throttle_max_s)

    def _checker(self) -> PasswordChecker:
        s = self.settings
        return PasswordChecker(self.secret, params=HashParams(
            s.password_time_cost, s.password_memory_kib, s.password_parallelism))

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        """Migrate the store, start the storage, the webhook worker and every service, then
        serve HTTP (the storage first and stopped last: every plane may read or write files).

        HTTP comes last so that an open port means the whole node is ready (what a load balancer
        and a client's first ``checkroom`` + ``joinRoom`` rely on); if anything fails to start,
        what did start is stopped again and the error propagates."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await migrate(self.engine)
        if self.engine.dialect.name != "sqlite" and not self.settings.secret_hex:
            self.secret = await shared_secret(self.sessions, self.secret)  # one secret per cluster
            self.api.secret = self.secret
            self.api.checker = self._checker()
        try:
            first: list[Service] = [self.storage, self.webhooks]
            for svc in (*first, *self.services):
                await svc.start()
                self._started.append(svc)
            await self._serve_http()
        except BaseException:
            await self.stop()
            raise
        log.info("tkroom node on %s (store %s)", self.base_url, self.engine.url.render_as_string())

    async def _database_check(self) -> dict[str, Any]:
        started = time.monotonic()
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"ok": True, "dialect": self.engine.dialect.name,
                "seconds": round(time.monotonic() - started, 4)}

    async def _webhook_probe(self) -> None:
        pending, failed = await self.webhooks.backlog()
        self.metrics.webhook_backlog.set(pending)
        self.metrics.webhook_failed.set(failed)

    async def _serve_http(self) -> None:
        ops = ops_routes(self.readiness, self.metrics if self.settings.metrics else None)
        self.app = build_app(self.api, [*ops, *self.routes])
        # ws="none": the node serves no WebSocket over HTTP (signalling has its own port), and
        # an upgraded connection would leave the edge protocol's connection count.
        protocol = edge_protocol(ConnectionCap(self.settings.max_connections_per_address),
                                 self.settings.http_header_timeout_s)
        config = uvicorn.Config(
            self.app, host=self.settings.host, port=self.settings.port, lifespan="off",
            log_level="warning", access_log=False, timeout_graceful_shutdown=5,
            http=protocol, ws="none",
            ssl_context_factory=self._ssl_context if self.tls else None,
        )
        self._server = _QuietServer(config)
        self._serve_task = asyncio.create_task(self._server.serve(), name="http")
        while not self._server.started:
            if self._serve_task.done():
                self._serve_task.result()
                raise OSError(f"cannot serve HTTP on {self.settings.host}:{self.settings.port}")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    def _ssl_context(self, config: uvicorn.Config, default: Callable[[], ssl.SSLContext],
                     ) -> ssl.SSLContext:
        """uvicorn's hook: the context the signalling server shares, so one reload serves both."""
        assert self.tls is not None
        return self.tls.context

    async def stop(self) -> None:
        """Turn not-ready, drain, then close HTTP (no new callers), the services in reverse
        order, and the store."""
        await self.drain()
        if self._server is not None and self._serve_task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._serve_task
        for svc in reversed(self._started):
            try:
                await svc.stop()
            except Exception:
                log.exception("stopping %r", svc)
        self._started.clear()
        if self._shared is not None:
            await self._shared.close()
        await self.engine.dispose()

    async def drain(self) -> None:
        """Answer 503 on /readyz from now on and keep serving for ``settings.drain_s`` seconds,
        so that load balancers take the node out before anything closes; then run the
        ``on_drain`` hooks (the signalling server tells its clients to reconnect, now
        elsewhere, and waits for them to go), for at most ``drain_s`` seconds again.
        ``end_drain()`` cuts the current wait short. With ``drain_s`` 0 the node only turns
        not-ready (``stop`` still tells the clients)."""
        if self.readiness.draining:
            return
        self.readiness.draining = True
        if self._server is None or self.settings.drain_s <= 0:  # nobody to drain, or no time
            return
        log.info("draining: not ready; clients are told to reconnect in %g s",
                 self.settings.drain_s)
        await self._drain_wait(self._drain_cut.wait())
        self._drain_cut.clear()
        await self._drain_wait(self._run_drain_hooks())
        log.info("drained")

    async def _run_drain_hooks(self) -> None:
        for hook in self.on_drain:
            try:
                await hook()
            except Exception:
                log.exception("drain hook %r", hook)

    async def _drain_wait(self, work: Awaitable[Any]) -> None:
        """Until ``work`` is done, ``end_drain()`` is called or ``drain_s`` seconds passed."""
        tasks = {asyncio.ensure_future(work), asyncio.ensure_future(self._drain_cut.wait())}
        try:
            await asyncio.wait(tasks, timeout=self.settings.drain_s,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks)

    def end_drain(self) -> None:
        """Cut the current drain wait short (a second SIGTERM/SIGINT does this)."""
        self._drain_cut.set()

    async def serve_forever(self) -> None:
        """Start, wait for SIGINT/SIGTERM, stop (a second signal ends the drain period)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                self.end_drain()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    def run(self) -> None:
        asyncio.run(self.serve_forever())


class _QuietServer(uvicorn.Server):
    """uvicorn leaving SIGINT/SIGTERM alone: ``Node.serve_forever`` handles them and stops the
    services as well as HTTP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
