"""Fixtures for tests that talk to a real node over HTTP, on SQLite and on PostgreSQL.

A node runs in a thread with its own event loop, so tests are plain synchronous functions using
httpx; ``NodeThread.run`` executes a coroutine on the node's loop when a test needs the store or
the directory directly. PostgreSQL: the server at 127.0.0.1:5432 when one answers (a fresh
database per session), otherwise one started from Debian's binaries in a temp folder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tkroom.config import Settings
from tkroom.node import Node
from tkroom.store.companies import create_company

PG_HOST, PG_PORT = "127.0.0.1", 5432


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(cond: Any, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class PgServer:
    """A PostgreSQL server of our own on a free port (trust auth, user postgres)."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            from conftest import need_binary

            need_binary("initdb")
        self.bindir = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="tkroom-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run([*self._as, str(self.bindir / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                        "-A", "trust", "--no-sync"], check=True, capture_output=True)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self._as, str(self.bindir / "postgres"), "-D", str(self.dir / "data"), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.dir), "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open("127.0.0.1", self.port), 60, what="postgres to listen")
        # listening is not ready: while it starts up (recovers) it refuses connections
        ready = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        wait_for(lambda: subprocess.run(ready).returncode == 0, 60, 0.1, "postgres to accept connections")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # smart shutdown would wait for the node's idle connections
            subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "stop",
                            "-m", "immediate"], capture_output=True)
            self.proc.wait(30)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{db}"


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_admin(url: str, sql: str) -> None:
    """``_pg_admin`` from synchronous code, even where an event loop runs in this thread
    (sync Playwright keeps one in the main thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _pg_admin(url, sql)).result(60)


class NodeThread:
    """A Node running on its own loop in a daemon thread."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.node: Node = self.run(self._make())
        self.run(self.node.start(), timeout=120)
        self.url = self.node.base_url

    async def _make(self) -> Node:
        return Node(self.settings)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def enterprise(self, **kw: Any) -> dict[str, Any]:
        async def make() -> dict[str, Any]:
            async with self.node.sessions() as s:
                c = await create_company(s, kw.pop("name", "School"), **kw)
                await s.commit()
                return {"companyid": c.id, "domain": c.domain, "authkey": c.authkey}

        return self.run(make())

    def stop(self) -> None:
        try:
            self.run(self.node.stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def node_settings(tmp: Path, database_url: str | None = None, **kw: Any) -> Settings:
    return Settings(host="127.0.0.1", port=0, signal_port=0, data_dir=tmp, database_url=database_url,
                    throttle_base_s=kw.pop("throttle_base_s", 0.001), throttle_max_s=kw.pop("throttle_max_s", 0.01),
                    callback_delays_s=kw.pop("callback_delays_s", (0.2, 0.4, 0.6, 0.8)), **kw)


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session."""
    own = None
    if port_open(PG_HOST, PG_PORT):
        admin = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/postgres"
    else:
        own = PgServer()
        own.start()
        admin = own.url()
    name = f"tkroom_t_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        try:
            asyncio.run(_pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            if own:
                own.cleanup()


@pytest.fixture
def own_pg_url(pg_url: str) -> Iterator[str]:
    """A database of its own (on the session's server), for tests whose node must be alone on it."""
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    name = f"tkroom_t_{secrets.token_hex(4)}"
    pg_admin(admin, f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A running node on SQLite or on PostgreSQL (the same tests run on both)."""
    tmp = tmp_path_factory.mktemp(f"node-{request.param}")
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    n = NodeThread(node_settings(tmp, url))
    yield n
    n.stop()


class Api:
    """Calls /WebAPI and /ClientAPI of a node as an integrator would, with one enterprise's key."""

    def __init__(self, node: NodeThread, company: dict[str, Any]):
        self.node = node
        self.company = company
        self.key = company["authkey"]
        self.http = httpx.Client(base_url=node.url, timeout=60)

    def __call__(self, method: str, api: str = "WebAPI", files: Any = None, **params: Any) -> dict[str, Any]:
        data = {k: v for k, v in params.items() if v is not None}
        if api == "WebAPI" and "key" not in params:
            data["key"] = self.key
        r = self.http.post(f"/{api}/{method}", data=data, files=files)
        assert r.status_code == 200, r.text
        return r.json()

    def client(self, method: str, **params: Any) -> dict[str, Any]:
        return self(method, api="ClientAPI", **params)

    def room(self, **over: Any) -> str:
        """A room that starts now and lasts an hour; answers its serial."""
        now = int(time.time())
        params = dict(roomname="Math", roomtype=3, starttime=now - 60, endtime=now + 3600, passwordrequired=1,
                      chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1", confuserpwd="stud1")
        params.update(over)
        r = self("roomcreate", **params)
        assert r["result"] == 0, r
        return r["serial"]


@pytest.fixture
def api(node: NodeThread) -> Iterator[Api]:
    """An Api for a fresh enterprise on the node."""
    a = Api(node, node.enterprise())
    yield a
    a.http.close()


SRC = str(Path(__file__).resolve().parents[1] / "src")  # the tree under test, for subprocesses


def tkroom(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    return subprocess.run([sys.executable, "-m", "tkroom", *args], env=e, capture_output=True, text=True,
                          timeout=120, **kw)


class Served:
    """``tkroom serve`` as a subprocess."""

    def __init__(self, *args: str):
        self.port, self.signal_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tkroom", "serve", "--port", str(self.port),
             "--signal-port", str(self.signal_port), *args],
            env={**os.environ, "PYTHONPATH": SRC}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        wait_for(lambda: port_open("127.0.0.1", self.port) or self.proc.poll() is not None, 60, what="serve")
        assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Receiver:
    """A little HTTP receiver on 127.0.0.1 that answers ``fail`` a given number of times first."""

    def __init__(self, failures: int):
        self.bodies: list[dict[str, str]] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []  # (headers, body bytes) of each POST
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                outer.raw.append(({k.lower(): v for k, v in self.headers.items()}, raw))
                body = raw.decode()
                outer.bodies.append({k: v[0] for k, v in parse_qs(body).items()})
                answer = b"fail" if len(outer.bodies) <= failures else b"success"
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
