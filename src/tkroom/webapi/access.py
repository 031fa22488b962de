"""Who may enter a room with which proof: the role comes from the password that matched.

Shared by ``checkroom`` and ``entry``. Wrong passwords feed the per-address throttle, and a
password that must be verified waits for the throttle's turn, so parallel guesses are verified
one after another. Correct ones are remembered by the password checker (and, in a cluster, in
Redis: ``webapi.shared``), and identical checks
arriving together share one verification, so a class joining at once costs one hash run per
distinct password, not one per student. A stored hash of an older kind (scrypt) or weaker than
the node's parameters is replaced by a new Argon2id hash in that same shared verification, once
the password proved right.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import select, update

from tkroom.errors import CodeError
from tkroom.roles import ASSISTANT, INSPECTOR, ROLES, STUDENT, TEACHER, VIEWER
from tkroom.rooms.entry import check_entry
from tkroom.store.models import Company, EnterpriseUser, Room
from tkroom.store.rooms import ROLE_PASSWORD, entry
from tkroom.webapi.registry import Call
from tkroom.webapi.roomparams import password_ok
from tkroom.webapi.state import ApiState

log = logging.getLogger("tkroom.webapi.access")

# Which code a wrong password answers when the caller asked for a given role.
WRONG_FOR_ROLE = {TEACHER: 5200, STUDENT: 5203, VIEWER: 5201}
TRY_ORDER = (TEACHER, ASSISTANT, INSPECTOR, STUDENT, VIEWER)
_ROLE_TEXTS = frozenset(str(r) for r in ROLES)
T = TypeVar("T")


async def enterable_room(call: Call, serial: str | None) -> tuple[Room, Company]:
    """The room and its enterprise if it may be entered now: 5100, 4007, 3003, 3002, 3001.

    Served from the room cache when possible, without opening a database session."""
    if not serial:
        raise CodeError(5100)
    now, cache = call.now, call.state.rooms
    hit = cache.get(serial)
    if hit is None:
        mark = cache.mark()
        row = (await call.s.execute(
            select(Room, Company).join(Company, Company.id == Room.companyid).where(Room.serial == serial)
        )).first()
        if row is not None:
            hit = (row[0], row[1])
            cache.put(*hit, mark)
    check_entry(serial, entry(*hit) if hit is not None else None, now)
    assert hit is not None
    return hit


def parse_role(value: str | None) -> int | None:
    """``userrole``/``usertype`` 0-4, or None when not given (5207 otherwise)."""
    if value is None:
        return None
    if value not in _ROLE_TEXTS:
        raise CodeError(5207)
    return int(value)


async def role_by_password(
    call: Call, room: Room, password: str | None, asked: int | None, *, wrong_live: int = 5201
) -> int:
    """The role whose password matched (or the student role where none is needed)."""
    state = call.state
    scope = f"room:{room.serial}"
    await call.release()
    await state.throttle.wait(call.addr, scope)
    if asked == VIEWER and not room.allowsidelineuser:
        raise CodeError(4008, "This room admits no live viewers")
    if not password:
        if asked in (None, STUDENT):
            if room.passwordrequired:
                raise CodeError(4110)
            return STUDENT
        raise CodeError(5204, "This role needs its password")
    if asked == STUDENT and not room.passwordrequired:
        return STUDENT
    if not password_ok(password):
        await state.throttle.fail(call.addr, scope)
        raise CodeError(5006)
    roles = (asked,) if asked is not None else tuple(
        r for r in TRY_ORDER if r != VIEWER or room.allowsidelineuser
    )
    hashes = {r: getattr(room, ROLE_PASSWORD[r]) for r in roles if getattr(room, ROLE_PASSWORD[r])}
    memo = (room.serial, str(asked), password, *hashes.values())
    role = state.checker.recall(*memo)
    if role is None and state.shared is not None:  # verified on another node of the cluster
        role = await state.shared.known(state.checker.memo_key(*memo))
        if role not in hashes:
            role = None
        else:
            state.checker.remember(role, *memo)
    if role is None:
        async def verify() -> int | None:
            results = await asyncio.gather(
                *(state.checker.check(ROLE_PASSWORD[r], password, h) for r, h in hashes.items())
            )
            matched = [r for r, ok in zip(hashes, results, strict=True) if ok]
            if not matched:
                return None
            state.checker.remember(matched[0], *memo)
            if state.shared is not None:
                await state.shared.vouch(state.checker.memo_key(*memo), matched[0])
            column, old = ROLE_PASSWORD[matched[0]], hashes[matched[0]]
            new = await state.checker.upgrade(column, password, old)
            if new is not None:
                await store_upgrade(state, update(Room).where(
                    Room.serial == room.serial, getattr(Room, column) == old).values({column: new}))
                state.rooms.invalidate(room.serial)
                state.checker.remember(matched[0], *(new if h == old else h for h in memo))
            return matched[0]

        role = await verified(call, scope, memo, verify)
        if role is None:
            code = WRONG_FOR_ROLE.get(asked, 4008) if asked is not None else 4008
            raise CodeError(wrong_live if code == 5201 else code)
    return role


async def registered_user(call: Call, room: Room, account: str | None, password: str | None) -> str:
    """For a registered-users-only room: the account of a valid enterprise user (4111, 4002)."""
    if not account or not password:
        raise CodeError(4111)
    q = select(EnterpriseUser).where(
        EnterpriseUser.companyid == room.companyid, EnterpriseUser.account == account
    )
    user = (await call.s.execute(q)).scalar_one_or_none()
    if user is None:
        raise CodeError(4111)
    scope = f"user:{room.companyid}"
    await call.release()
    await call.state.throttle.wait(call.addr, scope)
    checker, shared = call.state.checker, call.state.shared
    proof = ("user", password, user.pwhash)
    if not checker.cached(*proof) and shared is not None and await shared.known(checker.memo_key(*proof)):
        checker.vouch(*proof)  # verified on another node of the cluster
    if not checker.cached(*proof):
        async def verify() -> bool | None:
            if not await checker.check("user", password, user.pwhash):
                return None
            new = await checker.upgrade("user", password, user.pwhash)
            if new is not None:
                await store_upgrade(call.state, update(EnterpriseUser).where(
                    EnterpriseUser.id == user.id, EnterpriseUser.pwhash == user.pwhash).values(pwhash=new))
            if shared is not None:
                await shared.vouch(checker.memo_key(*proof), 1)
            return True

        if not await verified(call, scope, ("user", password, user.pwhash), verify):
            raise CodeError(4002)
    return user.account


async def verified(call: Call, scope: str, parts: tuple[str, ...],
                   verify: Callable[[], Awaitable[T | None]]) -> T | None:
    """``verify()`` (None: the password is wrong) in the throttle's turn for the caller's address
    and ``scope``, shared with identical checks under way. A failure counts against every
    address that asked, the turn's own before the turn ends."""
    state = call.state

    async def turn() -> T | None:
        async with state.throttle.guess(call.addr, scope):
            out = await verify()
            if out is None:
                await state.throttle.fail(call.addr, scope)
            return out

    out, shared = await state.checker.once(parts, turn)
    if out is None and shared:
        await state.throttle.fail(call.addr, scope)
    return out


async def store_upgrade(state: ApiState, statement: Any) -> None:
    """Write a rehashed password (an UPDATE that matches only the old hash, so a password
    changed meanwhile stays). A failure is logged, not answered: the login itself was right,
    and the old hash still verifies until a later login upgrades it."""
    try:
        async with state.sessions() as s:
            await s.execute(statement)
            await s.commit()
    except Exception as exc:  # the database is away: keep the old hash for now
        log.warning("could not store an upgraded password hash: %s", type(exc).__name__)
