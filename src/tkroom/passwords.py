"""Role and user passwords: salted scrypt hashes, constant-time checks, and a verify cache.

scrypt is deliberately slow (tens of milliseconds), which is what protects a stolen database,
but a join storm of a class would then be bound by it. So a successful check is remembered in
memory under ``HMAC(secret, purpose|password|stored hash)``: a repeat of the same correct
password costs one HMAC, not an scrypt run, and the cache key changes by itself when the
password is changed. Wrong passwords are never cached, so they always pay the full price.
scrypt runs in a pool of its own with a thread per core: many checks at once queue there
instead of taking every core and all memory, and identical checks asked together run once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_PREFIX = "scrypt"
T = TypeVar("T")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash``, with a fresh 16-byte salt."""
    salt = os.urandom(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"{_PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(dk).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash, compared in constant time."""
    try:
        prefix, n, r, p, salt, dk = stored.split("$")
    except ValueError:
        return False
    if prefix != _PREFIX:
        return False
    want = base64.b64decode(dk)
    got = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
    )
    return hmac.compare_digest(got, want)


class PasswordChecker:
    """Checks passwords in a bounded pool of threads, once per distinct question, remembering
    successes (bounded LRU).

    The pool bounds the node's scrypt work (CPU and 16 MiB each) whatever arrives at once, and
    keeps it off the event loop; ``once`` lets identical questions asked together share one
    computation.
    """

    def __init__(self, secret: bytes, size: int = 100_000, workers: int | None = None):
        self._secret = secret
        self._size = size
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._memo: OrderedDict[bytes, int] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=workers or max(2, os.cpu_count() or 2),
                                        thread_name_prefix="scrypt")
        self._flights: dict[bytes, tuple[asyncio.Future[Any], list[int]]] = {}
        self.runs = 0  # scrypt runs started: what tests and benchmarks count

    def _key(self, purpose: str, password: str, stored: str) -> bytes:
        msg = f"{purpose}\x00{password}\x00{stored}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).digest()

    async def _scrypt(self, fn: Callable[..., T], *args: str) -> T:
        self.runs += 1
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def cached(self, purpose: str, password: str, stored: str) -> bool:
        """True when this exact password was verified against this exact hash before."""
        key = self._key(purpose, password, stored)
        if key in self._ok:
            self._ok.move_to_end(key)
            return True
        return False

    async def check(self, purpose: str, password: str, stored: str) -> bool:
        if not stored or not password:
            return False
        if self.cached(purpose, password, stored):
            return True
        ok = await self._scrypt(check_password, password, stored)
        if ok:
            self._ok[self._key(purpose, password, stored)] = None
            if len(self._ok) > self._size:
                self._ok.popitem(last=False)
        return ok

    async def once(self, parts: tuple[str, ...], compute: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """``compute()``, unless a computation for the same ``parts`` is under way: then its
        outcome. Answers the outcome and whether it was shared. The computation is cancelled
        only when every caller waiting for it is."""
        key = self._key("once", "\x00".join(parts), "")
        entry = self._flights.get(key)
        shared = entry is not None
        if entry is None:
            flight: asyncio.Future[Any] = asyncio.ensure_future(compute())
            entry = self._flights[key] = (flight, [0])
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        flight, waiting = entry
        waiting[0] += 1
        try:
            return await asyncio.shield(flight), shared
        finally:
            waiting[0] -= 1
            if not waiting[0] and not flight.done():  # nobody left to answer
                flight.cancel()
                if self._flights.get(key) is entry:
                    del self._flights[key]

    async def hash(self, password: str) -> str:
        return await self._scrypt(hash_password, password)

    def recall(self, *parts: str) -> int | None:
        """A remembered outcome (such as the role a password matched) for exactly these parts."""
        return self._memo.get(self._key("memo", "\x00".join(parts), ""))

    def remember(self, value: int, *parts: str) -> None:
        self._memo[self._key("memo", "\x00".join(parts), "")] = value
        if len(self._memo) > self._size:
            self._memo.popitem(last=False)
