"""Redis clients from the node's one Redis URL: a single server (``redis://``, ``rediss://``,
``unix://``) or, for high availability, the primary that Redis Sentinel names
(``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``).

A Sentinel client asks the sentinels for the primary's address whenever it opens a connection,
so after a failover every new connection (and every reconnection of a dropped one: Sentinel
disconnects the clients of a demoted primary, and a write answered ``READONLY`` drops its
connection too) lands on the new primary. Every Redis user of a node takes its client from
here, so they all follow the primary together.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool, ConnectionPool
from redis.asyncio.sentinel import (
    MasterNotFoundError,
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError

SCHEMES = ("redis+sentinel", "rediss+sentinel")
# How long a sentinel may take to answer before the next one is asked.
SENTINEL_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class SentinelURL:
    """What a ``redis+sentinel://`` URL says: where the sentinels are, which primary (service),
    and how to log in to the data nodes (``password``) and to the sentinels
    (``?sentinel_password=``)."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


def parse_sentinel(url: str) -> SentinelURL | None:
    """The Sentinel parts of ``url``, or None for a plain Redis URL. Raises ``ValueError`` on
    a Sentinel URL without hosts or service name."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return None
    netloc = parts.netloc
    creds, _, hosts = netloc.rpartition("@")
    username, _, password = creds.partition(":") if creds else ("", "", "")
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host:
            host, port = port, "26379"
        sentinels.append((host.strip("[]"), int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    if not path or not sentinels or not sentinels[0][0]:
        raise ValueError("a Sentinel URL is redis+sentinel://host:port[,host:port]/service[/db]")
    query = parse_qs(parts.query)
    return SentinelURL(
        tuple(sentinels), unquote(path[0]), int(path[1]) if len(path) > 1 else 0,
        unquote(username) or None, unquote(password) or None,
        query.get("sentinel_password", [None])[0], parts.scheme.startswith("rediss"))


class NewestSentinel(Sentinel):
    """A Sentinel client that asks every sentinel and believes the one with the newest
    configuration epoch. redis-py's takes the first sentinel's word, and right after a
    failover a sentinel that has not heard of it yet names the old primary: connections would
    go back to it (still taking writes until it is demoted, writes the new primary never gets)."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        answers = await asyncio.gather(*(s.sentinel_masters() for s in self.sentinels),
                                       return_exceptions=True)
        best: dict[str, Any] | None = None
        errors = []
        for sentinel, masters in zip(self.sentinels, answers, strict=True):
            if isinstance(masters, BaseException):
                errors.append(f"{sentinel} - {masters!r}")
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name) and (
                    best is None or int(state["config-epoch"]) > int(best["config-epoch"])):
                best = state
        if best is None:
            raise MasterNotFoundError(f"No master found for {service_name!r}: {errors}")
        return best["ip"], int(best["port"])


class PrimaryConnection(SentinelManagedConnection):
    """A connection to the primary that never reconnects to an old one, which takes writes
    until Sentinel demotes it. redis-py's reconnects a dropped connection on its next command
    to the address it had; this one asks the sentinels again. It also gives up (and is
    retried) when the pool learnt of a newer primary while it was connecting."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect()
        await super().send_packed_command(command, check_health)

    async def connect_to(self, address: tuple[str, int]) -> None:
        await super().connect_to(address)
        newest = self.connection_pool.master_address
        if newest is not None and tuple(newest) != tuple(address):
            await self.disconnect()
            raise RedisConnectionError("the primary changed while connecting")


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """A Sentinel pool that, like ``BlockingConnectionPool``, makes a burst wait for a free
    connection instead of failing."""


def client(url: str, *, blocking: bool = False, **options: Any) -> aioredis.Redis:
    """A client that owns its pool (``aclose()`` closes it; use ``close`` to also close the
    sentinel connections). ``blocking``: a pool that waits for a free connection (pass
    ``max_connections`` and ``timeout``); ``options`` go to every connection."""
    s = parse_sentinel(url)
    if s is None:
        plain = BlockingConnectionPool if blocking else ConnectionPool
        return aioredis.Redis.from_pool(plain.from_url(url, **options))
    timeouts = {k: v for k, v in options.items() if k in ("socket_keepalive",)}
    sentinel = NewestSentinel(list(s.sentinels), sentinel_kwargs={
        "socket_timeout": SENTINEL_TIMEOUT_S, "socket_connect_timeout": SENTINEL_TIMEOUT_S,
        "password": s.sentinel_password, **timeouts})
    login: dict[str, Any] = {"username": s.username, "password": s.password, "db": s.db}
    if s.ssl:
        login["ssl"] = True
    else:
        login["connection_class"] = PrimaryConnection
    pool = BlockingSentinelPool if blocking else SentinelConnectionPool
    return sentinel.master_for(s.service, connection_pool_class=pool, **login, **options)


async def close(redis: aioredis.Redis) -> None:
    """Close ``redis``, its pool, and the connections to the sentinels it asked."""
    pool = redis.connection_pool
    await redis.aclose(close_connection_pool=True)
    if isinstance(pool, SentinelConnectionPool):
        await pool.sentinel_manager.aclose()



def is_sentinel(redis: aioredis.Redis) -> bool:
    """Whether ``redis`` finds its primary through Sentinel."""
    return isinstance(redis.connection_pool, SentinelConnectionPool)


async def follow_primary(redis: aioredis.Redis) -> bool:
    """With Sentinel: whether the sentinels now name another primary than the one this
    client's connections were opened to; if so every connection, busy ones and the subscriber
    included, is dropped so that it reconnects to the new one. A forced failover leaves the old
    primary taking writes (that the new one will never have) until Sentinel demotes it, seconds
    later: this does not wait for that."""
    pool = redis.connection_pool
    if not isinstance(pool, SentinelConnectionPool):
        return False
    address = await pool.sentinel_manager.discover_master(pool.service_name)
    if pool.master_address is None or address == pool.master_address:
        return False
    pool.master_address = address
    await pool.disconnect(inuse_connections=True)
    return True
