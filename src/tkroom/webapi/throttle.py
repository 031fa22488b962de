"""Slowing down repeated wrong passwords from one address.

Counting alone does not stop a guesser; making every further guess wait does. Each wrong
password for a room from an address doubles the wait before that address's next answer for the
room (from ``base`` up to ``cap`` seconds); the count fades after ``forget_s`` without failures. A correct password does not reset
it, so that a known student password cannot be interleaved with guesses of the teacher's.

Waiting alone does not stop a guesser who asks in parallel: every request would wait the same
wait at once and then guess. So a password that must really be verified (not one already known
to be right) takes a turn (``guess``): one verification at a time per address and scope, each
no sooner than the wait after the previous failure, and at most ``per_addr`` verifications at
once per address over all scopes. Parallel guessing is then no faster than guessing in turn,
and one address cannot keep the node's password hashing pool to itself.

This is the node's own memory; ``webapi.shared.RedisThrottle`` keeps the counts in a cluster's
Redis instead (``standing`` and ``fail`` are what it replaces).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class _Limits:
    """A semaphore per key, kept only while someone holds or awaits it."""

    def __init__(self, limit: int):
        self.limit = limit
        self._sems: dict[Hashable, tuple[asyncio.Semaphore, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        entry = self._sems.get(key)
        if entry is None:
            entry = self._sems[key] = (asyncio.Semaphore(self.limit), [0])
        sem, users = entry
        users[0] += 1
        try:
            async with sem:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._sems[key]


class Throttle:
    def __init__(self, base_s: float = 0.05, cap_s: float = 5.0, forget_s: float = 600.0, per_addr: int = 1):
        self.base_s = base_s
        self.cap_s = cap_s
        self.forget_s = forget_s
        self._fails: dict[tuple[str, str], tuple[int, float]] = {}
        self._turns = _Limits(1)
        self._slots = _Limits(per_addr)

    def delay(self, addr: str, scope: str) -> float:
        """How long the next answer to ``addr`` about ``scope`` must wait."""
        entry = self._fails.get((addr, scope))
        if entry is None:
            return 0.0
        count, last = entry
        if time.monotonic() - last > self.forget_s:
            del self._fails[(addr, scope)]
            return 0.0
        return self._wait_of(count)

    def _wait_of(self, count: int) -> float:
        return min(self.cap_s, self.base_s * 2 ** (count - 1)) if count else 0.0

    async def standing(self, addr: str, scope: str) -> tuple[float, float]:
        """The wait before ``addr``'s next answer about ``scope``, and how long until its next
        verification may start. What a shared backend (``webapi.shared``) answers instead."""
        entry = self._fails.get((addr, scope))
        d = self.delay(addr, scope)
        if entry is None or not d:
            return 0.0, 0.0
        return d, max(0.0, entry[1] + d - time.monotonic())

    async def fail(self, addr: str, scope: str) -> None:
        """``failed``, where a shared backend records it for every node."""
        self.failed(addr, scope)

    async def wait(self, addr: str, scope: str) -> None:
        d, _ = await self.standing(addr, scope)
        if d:
            await asyncio.sleep(d)

    @asynccontextmanager
    async def guess(self, addr: str, scope: str) -> AsyncIterator[None]:
        """A turn to verify a password: in order per ``(addr, scope)``, no sooner than the wait
        after the last failure, within ``per_addr`` at once; report a failure before leaving."""
        async with self._turns.hold((addr, scope)):
            _, ready = await self.standing(addr, scope)
            if ready:
                await asyncio.sleep(ready)
            async with self._slots.hold(addr):
                yield

    def failed(self, addr: str, scope: str) -> None:
        count, _ = self._fails.get((addr, scope), (0, 0.0))
        self._fails[(addr, scope)] = (count + 1, time.monotonic())
        if len(self._fails) > 100_000:  # bound memory under a spray from many addresses
            oldest = sorted(self._fails.items(), key=lambda kv: kv[1][1])[:50_000]
            for k, _ in oldest:
                del self._fails[k]
