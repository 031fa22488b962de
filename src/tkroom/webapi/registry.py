"""Every WebAPI/ClientAPI method declared once: parameters, codes and handler.

The dispatcher, the OpenAPI document and ``docs/webapi.md`` are all generated from these
declarations, so the three cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tkroom.errors import CodeError
from tkroom.rooms.entry import Enterprise, check_enterprise
from tkroom.store.models import Company, Room
from tkroom.webapi.params import Params
from tkroom.webapi.state import ApiState


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str = "string"  # string | integer | array | file
    required: bool = False
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Method:
    api: str  # "WebAPI" or "ClientAPI"
    name: str
    summary: str
    params: tuple[Param, ...]
    codes: tuple[tuple[int, str], ...]
    handler: Callable[[Call], Awaitable[dict[str, Any]]]
    key: bool = True
    multipart: bool = False


METHODS: dict[tuple[str, str], Method] = {}

KEY = Param("key", required=True, doc="the enterprise's authkey")
KEY_CODES: tuple[tuple[int, str], ...] = (
    (4109, "key missing or unknown"),
    (3002, "the enterprise is frozen"),
    (3001, "the enterprise's service period has ended"),
    (4107, "the database failed"),
)


def method(
    api: str,
    name: str,
    summary: str,
    params: tuple[Param, ...] = (),
    codes: tuple[tuple[int, str], ...] = (),
    *,
    key: bool = True,
    multipart: bool = False,
) -> Callable[[Callable[[Call], Awaitable[dict[str, Any]]]], Callable[[Call], Awaitable[dict[str, Any]]]]:
    """Register a handler under ``/<api>/<name>``."""

    def deco(fn: Callable[[Call], Awaitable[dict[str, Any]]]) -> Callable[[Call], Awaitable[dict[str, Any]]]:
        all_params = ((KEY,) if key else ()) + params
        all_codes = (KEY_CODES if key else ((4107, "the database failed"),)) + codes
        METHODS[(api, name)] = Method(api, name, summary, all_params, all_codes, fn, key, multipart)
        return fn

    return deco


@dataclass
class Call:
    """One request: its parameters, the node's shared state and a database session."""

    p: Params
    state: ApiState
    request: Request
    now: float = field(default_factory=time.time)
    _company: Company | None = None
    _session: AsyncSession | None = None
    _stale: set[str | None] = field(default_factory=set)  # rooms this call changes (None: all)

    @property
    def s(self) -> AsyncSession:
        """The database session, opened on first use (a cached checkroom never needs one)."""
        if self._session is None:
            self._session = self.state.sessions()
        return self._session

    def uncache(self, serial: str | None = None) -> None:
        """The cached rows of this room (None: of every room, as when an enterprise changes)
        are out of date: dropped now, and again once the change is committed (``finish``),
        since a read in between (a ``checkroom``, a join or a publish through the directory)
        would cache the old row again for the cache's whole lifetime."""
        self._stale.add(serial)
        self._drop_stale()

    def _drop_stale(self) -> None:
        for serial in self._stale:
            if serial is not None:
                self.state.rooms.invalidate(serial)
            else:
                self.state.rooms.clear()

    async def finish(self, ok: bool) -> None:
        """Commit (when ``ok``) and close the session if one was opened; then drop the cached
        rows the call changed (``uncache``)."""
        if self._session is None:
            return
        try:
            if ok and self._session.in_transaction():
                await self._session.commit()
        finally:
            await self._session.close()
            self._drop_stale()

    async def release(self) -> None:
        """Commit and give the database connection back before a long wait (such as the
        password throttle's), so that waiting callers do not hold the pool; the session
        reopens on next use."""
        await self.finish(ok=True)
        self._session = None

    @property
    def addr(self) -> str:
        return self.request.client.host if self.request.client else "?"

    async def company(self) -> Company:
        """The enterprise whose ``key`` is given: 4109 unknown, 3002 frozen, 3001 expired."""
        if self._company is not None:
            return self._company
        key = self.p.get("key")
        if not key:
            raise CodeError(4109, "key is required")
        c = (await self.s.execute(select(Company).where(Company.authkey == key))).scalar_one_or_none()
        if c is None or c.deleted:
            raise CodeError(4109, "The key is not correct")
        check_company(c, self.now)
        self._company = c
        return c

    async def own_room(self, *, serial_param: str = "serial") -> Room:
        """The room named by ``serial`` that belongs to the key's enterprise (5100, 4007, 4108)."""
        c = await self.company()
        serial = self.p.get(serial_param)
        if not serial:
            raise CodeError(5100, "serial is required")
        room = await self.s.get(Room, serial)
        if room is None or room.deleted:
            raise CodeError(4007, f"No room {serial}")
        if room.companyid != c.id:
            raise CodeError(4108, "This room belongs to another enterprise")
        return room


def check_company(c: Company, now: float) -> None:
    """3002 when frozen, 3001 when the service period has ended."""
    check_enterprise(Enterprise(frozen=c.frozen, expires=c.expires), now)
