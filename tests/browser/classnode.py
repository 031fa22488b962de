"""A whole tkroom node for browser tests, inside the test's network namespace.

HTTP (WebAPI, ClientAPI, the classroom page), the signalling server and the media plane on a
real Janus, built as ``tkroom serve`` builds it (``tkroom.planes.build_node``). Everything runs on one
asyncio loop in a thread of its own that has entered the namespace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import secrets
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx

from tkroom.config import Settings
from tkroom.media.netns import NetNamespace
from tkroom.planes import build_node
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company

PASSWORDS = {"chairmanpwd": "teach1234", "assistantpwd": "assist1234", "patrolpwd": "patrol1234",
             "confuserpwd": "learn1234"}


class ClassNode:
    """Start with ``with ClassNode(ns, janus_url, workdir) as node:``; ``node.url`` is HTTP.
    ``ClassNode(None, None, workdir)`` is a node without media, in the test's own network
    (enough for the board: no Janus, no namespace)."""

    def __init__(self, ns: NetNamespace | None, janus_url: str | None, workdir: Path,
                 grace: float = 15.0, host: str = "127.0.0.1") -> None:
        self.ns, self.janus_url, self.workdir, self.grace = ns, janus_url, workdir, grace
        self.host = host  # "0.0.0.0": reachable from a student namespace (media.shaping)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True, name="classnode")
        self.ready = threading.Event()
        self.authkey = ""
        self.port = 0

    def _run(self) -> None:
        with self.ns.entered() if self.ns else contextlib.nullcontext():
            asyncio.set_event_loop(self.loop)
            self.ready.set()
            self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        """Run ``coro`` on the node's loop (inside the namespace) and return its result."""
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ClassNode:
        self.thread.start()
        self.ready.wait(10)
        self.call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self._stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    async def _start(self) -> None:
        settings = Settings(host=self.host, port=0, signal_port=0, data_dir=self.workdir / "data",
                            secret_hex=secrets.token_hex(32),
                            janus_urls=[self.janus_url] if self.janus_url else [])
        self.node = build_node(settings, state=MemoryState(), grace=self.grace, sweep_interval=0.2,
                               media=bool(self.janus_url))
        self.signal = self.node.signal
        if self.janus_url:
            self.plane = self.node.media
            # The Web API registry sync runs often here: it must keep the --janus server.
            self.plane.sync_every = 0.2
            self.media = self.plane.service
        await self.node.start()
        self.port = self.node.port
        async with self.node.sessions() as s:
            company = await create_company(s, "Browser test school")
            await s.commit()
            self.authkey = company.authkey

    async def _stop(self) -> None:
        await self.node.stop()

    # ---- the Web API, as a school's backend would call it ----------------------------------

    def webapi(self, method: str, data: dict[str, Any] | None = None,
               files: dict[str, Any] | None = None) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            async with httpx.AsyncClient(base_url=self.url, timeout=30) as c:
                r = await c.post(f"/WebAPI/{method}", data={"key": self.authkey, **(data or {})},
                                 files=files)
                return r.json()
        out = self.call(go())
        assert out.get("result") == 0, (method, out)
        return out

    def create_room(self, name: str = "Physics 101", **extra: Any) -> str:
        now = int(time.time())
        out = self.webapi("roomcreate", {
            "roomname": name, "roomtype": 3, "starttime": now - 60, "endtime": now + 3 * 3600,
            "passwordrequired": 1, "maxvideo": 6, **PASSWORDS, **extra})
        return str(out["serial"])
