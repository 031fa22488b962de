"""The wrong-password throttle and the verified-password cache in Redis, shared by a cluster.

With a throttle per node, N nodes behind a load balancer let a guesser try N times as fast; with
a cache per node, a class spread over N nodes costs N hash runs per password. So when the node
has a Redis URL, failures and successes are kept there: per address and scope a failure count
and a "not before" key, both written by one Lua script (the wait computed once, by Redis's
clock) and both expiring by themselves; and verified passwords under
``HMAC(secret, parts with the password and the stored hashes)``, so the cache holds no password
and a changed password never matches an entry.

Redis away: the throttle falls back to the node's own memory (logged once per outage, and its end) and the
cache misses (a verification more), so nobody is let in or locked out by the outage. The turns
(one verification at a time per address and scope) stay per node.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError

from tkroom import redisconn as redis_conn
from tkroom.webapi.throttle import Throttle

log = logging.getLogger("tkroom.webapi.shared")

PREFIX = "tkroom:sec:"
# How long a verified password stays known to the cluster (a class joins within minutes).
VOUCH_TTL_S = 3600
# After Redis failed, how long to use the memory fallback before trying Redis again.
RETRY_S = 5.0
TIMEOUT_S = 1.0

# KEYS: count, not-before. ARGV: base ms, cap ms, forget ms. The wait doubles per failure.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local wait = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) * 2 ^ (n - 1))
wait = math.max(1, math.floor(wait))
redis.call('SET', KEYS[2], '1', 'PX', wait)
return n
"""
# KEYS: count, not-before. Answers the count and the ms left until the next verification.
_STANDING = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = redis.call('PTTL', KEYS[2])
if left < 0 then left = 0 end
return {n, left}
"""


class Shared:
    """One Redis client for the Web API's shared security state, and its health: after a
    failure Redis is left alone for ``RETRY_S`` and callers use their fallback."""

    def __init__(self, url: str):
        # a Sentinel URL follows the primary: a failed command drops its connection and the
        # next one (after ``RETRY_S``) asks the sentinels where the primary is now
        self.client: Any = redis_conn.client(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
        self._down_until = 0.0
        self._out = False  # an outage was logged and has not ended yet
        self._fail = self.client.register_script(_FAIL)
        self._standing = self.client.register_script(_STANDING)

    def usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def down(self, exc: BaseException) -> None:
        if not self._out:
            log.warning("Redis unreachable for the shared password throttle and cache (%s): "
                        "using this node's memory meanwhile", type(exc).__name__)
            self._out = True
        self._down_until = time.monotonic() + RETRY_S

    def up(self) -> None:
        if self._out:
            log.warning("Redis is reachable again for the shared password throttle and cache")
            self._out = False

    async def close(self) -> None:
        await redis_conn.close(self.client)

    async def known(self, key: bytes) -> int | None:
        """A vouched outcome (a role, or 1), or None: unknown or Redis away."""
        if not self.usable():
            return None
        try:
            v = await self.client.get(PREFIX + "ok:" + key.hex())
        except (RedisError, OSError) as exc:
            self.down(exc)
            return None
        self.up()
        return int(v) if v is not None else None

    async def vouch(self, key: bytes, value: int) -> None:
        if not self.usable():
            return
        try:
            await self.client.set(PREFIX + "ok:" + key.hex(), value, ex=VOUCH_TTL_S)
        except (RedisError, OSError) as exc:
            self.down(exc)


class RedisThrottle(Throttle):
    """The throttle's counts in Redis (``Throttle`` for what it does); its own memory while
    Redis is away."""

    def __init__(self, shared: Shared, base_s: float = 0.05, cap_s: float = 5.0,
                 forget_s: float = 600.0, per_addr: int = 1):
        super().__init__(base_s, cap_s, forget_s, per_addr)
        self.shared = shared

    def _keys(self, addr: str, scope: str) -> list[str]:
        k = f"{PREFIX}thr:{addr}\x00{scope}"
        return [k + ":n", k + ":t"]

    async def standing(self, addr: str, scope: str) -> tuple[float, float]:
        if self.shared.usable():
            try:
                n, left = await self.shared._standing(keys=self._keys(addr, scope))
                self.shared.up()
                return self._wait_of(int(n)), int(left) / 1000
            except (RedisError, OSError) as exc:
                self.shared.down(exc)
        return await super().standing(addr, scope)

    async def fail(self, addr: str, scope: str) -> None:
        if self.shared.usable():
            try:
                await self.shared._fail(keys=self._keys(addr, scope), args=[
                    self.base_s * 1000, self.cap_s * 1000, int(self.forget_s * 1000)])
                return
            except (RedisError, OSError) as exc:
                self.shared.down(exc)
        self.failed(addr, scope)
