"""Slowing down repeated wrong passwords from one address.

Counting alone does not stop a guesser; making every further guess wait does. Each wrong
password for a room from an address doubles the wait before that address's next answer for the
room (from ``base`` up to ``cap`` seconds); the count fades after ``forget_s`` without failures. A correct password does not reset
it, so that a known student password cannot be interleaved with guesses of the teacher's.
"""

from __future__ import annotations

import asyncio
import time


class Throttle:
    def __init__(self, base_s: float = 0.05, cap_s: float = 5.0, forget_s: float = 600.0):
        self.base_s = base_s
        self.cap_s = cap_s
        self.forget_s = forget_s
        self._fails: dict[tuple[str, str], tuple[int, float]] = {}

    def delay(self, addr: str, scope: str) -> float:
        """How long the next answer to ``addr`` about ``scope`` must wait."""
        entry = self._fails.get((addr, scope))
        if entry is None:
            return 0.0
        count, last = entry
        if time.monotonic() - last > self.forget_s:
            del self._fails[(addr, scope)]
            return 0.0
        return min(self.cap_s, self.base_s * 2 ** (count - 1))

    async def wait(self, addr: str, scope: str) -> None:
        d = self.delay(addr, scope)
        if d:
            await asyncio.sleep(d)

    def failed(self, addr: str, scope: str) -> None:
        count, _ = self._fails.get((addr, scope), (0, 0.0))
        self._fails[(addr, scope)] = (count + 1, time.monotonic())
        if len(self._fails) > 100_000:  # bound memory under a spray from many addresses
            oldest = sorted(self._fails.items(), key=lambda kv: kv[1][1])[:50_000]
            for k, _ in oldest:
                del self._fails[k]
