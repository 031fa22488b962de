"""``/healthz``, ``/readyz`` and ``/metrics``: what a load balancer and Prometheus ask a node.

``/healthz`` answers 200 while the process serves HTTP at all. ``/readyz`` runs the node's
readiness checks, each a plane's (``database``, ``storage``, ``redis``, ``media``, ``turn``,
``converters``),
and answers 503 when any fails or
the node is draining (being stopped): the node should not be given new classes. Every check
has a deadline, and one answer is shared by the requests arriving within ``CACHE_S``, so an
anonymous client polling it cannot make the node hammer its database or Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tkroom.metrics import CONTENT_TYPE, NodeMetrics

CHECK_TIMEOUT_S = 2.0
CACHE_S = 1.0

# A check answers its state: ``{"ok": bool, ...details}``; raising (or timing out) is not ok.
Check = Callable[[], Awaitable[dict[str, Any]]]


class Readiness:
    """The node's readiness checks and its draining flag."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.checks: dict[str, Check] = {}
        self.draining = False
        self.clock = clock
        self._last: tuple[float, bool, dict[str, Any]] | None = None
        self._running: asyncio.Future[tuple[bool, dict[str, Any]]] | None = None

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(ready, the JSON answer); concurrent callers share one run of the checks."""
        now = self.clock()
        if self._last is not None and now - self._last[0] < CACHE_S:
            ready, body = self._last[1], self._last[2]
        else:
            if self._running is None:
                self._running = asyncio.ensure_future(self._run())
            running = self._running
            try:
                ready, body = await asyncio.shield(running)
            finally:
                if self._running is running and running.done():
                    self._running = None
            self._last = (self.clock(), ready, body)
        if self.draining:
            return False, {**body, "ready": False, "draining": True}
        return ready, body

    async def _run(self) -> tuple[bool, dict[str, Any]]:
        names = list(self.checks)
        results = await asyncio.gather(
            *(asyncio.wait_for(self.checks[n](), CHECK_TIMEOUT_S) for n in names),
            return_exceptions=True)
        states: dict[str, Any] = {}
        for name, res in zip(names, results, strict=True):
            if isinstance(res, TimeoutError):
                states[name] = {"ok": False, "error": f"no answer within {CHECK_TIMEOUT_S:g} s"}
            elif isinstance(res, BaseException):
                states[name] = {"ok": False, "error": _why(res)}
            else:
                states[name] = res
        ready = all(s.get("ok") for s in states.values())
        return ready, {"ready": ready, "draining": False, "checks": states}


def _why(exc: BaseException) -> str:
    """A short reason, never a URL with its password: the exception's type and first line."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def ops_routes(readiness: Readiness, metrics: NodeMetrics | None) -> list[BaseRoute]:
    """The node's operations routes; ``metrics`` None: no ``/metrics``."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> Response:
        ready, body = await readiness.report()
        return JSONResponse(body, status_code=200 if ready else 503,
                            headers={"Cache-Control": "no-store"})

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET", "HEAD"]),
                               Route("/readyz", readyz, methods=["GET", "HEAD"])]
    if metrics is not None:
        async def metrics_endpoint(request: Request) -> Response:
            return Response(await metrics.render(), media_type=CONTENT_TYPE)

        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    return routes
