"""Role and user passwords: salted Argon2id hashes, constant-time checks, and a verify cache.

A password hash is deliberately slow, which is what protects a stolen database, but a join
storm of a class would then be bound by it. So a successful check is remembered in memory under
``HMAC(secret, purpose|password|stored hash)``: a repeat of the same correct password costs one
HMAC, not a hash run, and the cache key changes by itself when the password is changed. Wrong
passwords are never cached, so they always pay the full price. Hashing runs in a pool of its
own with a thread per core: many checks at once queue there instead of taking every core and
all memory (and never the event loop), and identical checks asked together run once.

New hashes are Argon2id (``$argon2id$...``, argon2-cffi). Hashes of older versions (``scrypt$``
N=2^14) and Argon2id hashes with weaker parameters than the node's still verify;
``needs_rehash`` tells the caller to replace them once a login proved the password.
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
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT = "scrypt"
_ARGON2ID = "$argon2id$"
T = TypeVar("T")


@dataclass(frozen=True)
class HashParams:
    """Argon2id cost. The default is OWASP's first recommendation (19 MiB, 2 passes, 1 lane):
    about 20 ms on one core, single-threaded, so the pool's size bounds the CPU it takes."""

    time_cost: int = 2
    memory_kib: int = 19 * 1024
    parallelism: int = 1

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1 or self.memory_kib < 8 * self.parallelism:
            raise ValueError("Argon2id needs time cost >= 1, parallelism >= 1 and memory >= 8 KiB "
                             f"per lane, not {self}")

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(time_cost=self.time_cost, memory_cost=self.memory_kib,
                              parallelism=self.parallelism, hash_len=32, salt_len=16, type=Type.ID)


DEFAULT_PARAMS = HashParams()
_HASHERS: dict[HashParams, PasswordHasher] = {}


def _hasher(params: HashParams) -> PasswordHasher:
    h = _HASHERS.get(params)
    if h is None:
        h = _HASHERS[params] = params.hasher()
    return h


def hash_password(password: str, params: HashParams = DEFAULT_PARAMS) -> str:
    """``$argon2id$v=19$m=...,t=...,p=...$salt$hash``, with a fresh 16-byte salt."""
    return _hasher(params).hash(password)


def scrypt_hash(password: str) -> str:
    """``scrypt$n$r$p$salt$hash``: what earlier versions stored (kept to make such hashes in
    tests and benchmarks of the upgrade)."""
    salt = os.urandom(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"{_SCRYPT}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(dk).decode()}"


def _check_scrypt(password: str, stored: str) -> bool:
    try:
        prefix, n, r, p, salt, dk = stored.split("$")
        if prefix != _SCRYPT:
            return False
        want = base64.b64decode(dk)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(want))
    except ValueError:  # malformed (bad base64, numbers or scrypt parameters)
        return False
    return hmac.compare_digest(got, want)


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (Argon2id, or scrypt of earlier versions),
    compared in constant time. A malformed hash matches nothing."""
    if stored.startswith(_ARGON2ID):
        try:
            return _hasher(DEFAULT_PARAMS).verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    return _check_scrypt(password, stored)


def needs_rehash(stored: str, params: HashParams = DEFAULT_PARAMS) -> bool:
    """Whether a hash that just verified should be replaced: not Argon2id, or made with other
    parameters than ``params``."""
    if not stored.startswith(_ARGON2ID):
        return True
    try:
        return _hasher(params).check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


class PasswordChecker:
    """Checks passwords in a bounded pool of threads, once per distinct question, remembering
    successes (bounded LRU).

    The pool bounds the node's hashing work (CPU and memory) whatever arrives at once, and
    keeps it off the event loop; ``once`` lets identical questions asked together share one
    computation.
    """

    def __init__(self, secret: bytes, size: int = 100_000, workers: int | None = None,
                 params: HashParams = DEFAULT_PARAMS):
        self._secret = secret
        self._size = size
        self.params = params
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._memo: OrderedDict[bytes, int] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=workers or max(2, os.cpu_count() or 2),
                                        thread_name_prefix="pwhash")
        self._flights: dict[bytes, tuple[asyncio.Future[Any], list[int]]] = {}
        self.runs = 0  # hash runs started (checks and new hashes): what tests and benchmarks count

    def _key(self, purpose: str, password: str, stored: str) -> bytes:
        msg = f"{purpose}\x00{password}\x00{stored}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).digest()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        self.runs += 1
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def cached(self, purpose: str, password: str, stored: str) -> bool:
        """True when this exact password was verified against this exact hash before."""
        key = self._key(purpose, password, stored)
        if key in self._ok:
            self._ok.move_to_end(key)
            return True
        return False

    def vouch(self, purpose: str, password: str, stored: str) -> None:
        """Remember that ``password`` matches ``stored`` (verified, or just hashed from it)."""
        self._ok[self._key(purpose, password, stored)] = None
        if len(self._ok) > self._size:
            self._ok.popitem(last=False)

    async def check(self, purpose: str, password: str, stored: str) -> bool:
        if not stored or not password:
            return False
        if self.cached(purpose, password, stored):
            return True
        ok = await self._run(check_password, password, stored)
        if ok:
            self.vouch(purpose, password, stored)
        return ok

    async def upgrade(self, purpose: str, password: str, stored: str) -> str | None:
        """A new hash of ``password`` (which just matched ``stored``) when ``stored`` is of an
        older kind or weaker than this node's parameters, else None. The new hash is
        remembered as verified, so the switch costs no extra check."""
        if not needs_rehash(stored, self.params):
            return None
        new = await self.hash(password)
        self.vouch(purpose, password, new)
        return new

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
        return await self._run(hash_password, password, self.params)

    def memo_key(self, *parts: str) -> bytes:
        """The keyed hash naming these parts in the cache (holding no password; a cluster's
        shared cache stores outcomes under it)."""
        return self._key("memo", "\x00".join(parts), "")

    def recall(self, *parts: str) -> int | None:
        """A remembered outcome (such as the role a password matched) for exactly these parts."""
        return self._memo.get(self.memo_key(*parts))

    def remember(self, value: int, *parts: str) -> None:
        self._memo[self.memo_key(*parts)] = value
        if len(self._memo) > self._size:
            self._memo.popitem(last=False)
