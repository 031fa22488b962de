"""The classroom tools on the signalling server (docs/tools.md): a thin adapter that applies
``tkroom.rooms.tools``' checks through the state's atomic tool operations, announces the
outcome as room events, sends the teachers live answer counts (coalesced per node), ends
running timers, and hands answers and trophies to the store.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from tkroom.directory import RoomDirectory
from tkroom.rooms import decisions
from tkroom.rooms import tools as rules
from tkroom.rooms.board import RateLimiter
from tkroom.rooms.model import ASSISTANT, INSPECTOR, TEACHER, Event, Member, Target
from tkroom.rooms.rules import SERVER_ID, fail
from tkroom.rooms.transitions import ERR_SAVED_LIMIT, SavePolicy
from tkroom.signal.fanout import Conn
from tkroom.state.base import RoomState
from tkroom.tasks import spawn

log = logging.getLogger(__name__)

# live counts: the super users, and the inspectors (who see everything, never act)
COUNTED = Target("roles", SERVER_ID, roles=(TEACHER, ASSISTANT, INSPECTOR))
EVERYONE = Target("all", SERVER_ID)


class Host(Protocol):
    """What the tools use of the signalling server."""

    state: RoomState
    directory: RoomDirectory
    saved: SavePolicy
    _tasks: weakref.WeakSet[asyncio.Task[None]]

    def now_ms(self) -> int: ...

    async def _publish(self, serial: str, events: list[Event]) -> None: ...


class Tools:
    """The tools of one node. Per-node parts: the answer/press rate (a user's socket is on
    one node), the live-count coalescing and the timers this node started or resumed."""

    def __init__(self, server: Host) -> None:
        self.server = server
        self.rate = RateLimiter(rules.TOOL_RATE, rules.TOOL_RATE)
        self.coalescer = rules.Coalescer()
        self.latest: dict[str, tuple[str, rules.Tally]] = {}   # serial -> newest count to send
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.handlers: dict[str, Callable[[Conn, Member, rules.Action, int],
                                          Awaitable[dict[str, Any]]]] = {
            "ask": self._ask, "answer": self._answer, "publish": self._publish_result,
            "arm": self._arm, "press": self._press, "timer": self._timer, "dial": self._dial,
            "gift": self._gift,
        }

    def stop(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()

    @property
    def state(self) -> RoomState:
        return self.server.state

    async def pubmsg(self, conn: Conn, me: Member, action: rules.Action,
                     now_ms: int) -> dict[str, Any]:
        return await self.handlers[action.kind](conn, me, action, now_ms)

    async def _save_and_send(self, serial: str, msg: dict[str, Any],
                             target: Target = EVERYONE) -> dict[str, Any]:
        """Save a tool's message (the room's saved-message limit applies) and announce it."""
        saved = await self.state.save_message(serial, msg, self.server.saved)
        if saved.refused:
            raise fail(ERR_SAVED_LIMIT, "the room holds the most saved messages it may")
        events, _ = decisions.published(msg, target, saved)
        await self.server._publish(serial, events)
        return {"seq": saved.message["seq"]}

    def _limit(self, serial: str, me: Member, now_ms: int) -> None:
        if not self.rate.allow((serial, me.userid), now_ms):
            raise fail(103, f"more than {rules.TOOL_RATE} answers or presses a second: this "
                            "one was not taken")

    async def _store_answers(self, serial: str, closed: rules.ClosedCard, now_ms: int) -> None:
        try:
            await self.server.directory.save_answers(serial, closed.qid, closed.question,
                                                     closed.answers, now_ms)
        except Exception:
            log.exception("could not store the answers of card %s in %s", closed.qid, serial)

    # answer card ---------------------------------------------------------------------------
    async def _ask(self, conn: Conn, me: Member, a: rules.Action, now_ms: int) -> dict[str, Any]:
        code, prev = await self.state.open_card(conn.serial, a.question)
        if code:
            raise fail(code, f"this room already asked a card {a.qid!r} (or {rules.MAX_CARDS} "
                             "cards): give a new qid")
        if prev is not None:
            self.latest.pop(conn.serial, None)
            await self._store_answers(conn.serial, prev, now_ms)
        try:
            out = await self._save_and_send(conn.serial, a.msg)
        except BaseException:
            await self.state.close_card(conn.serial, a.qid)     # never shown: nothing to keep
            raise
        return {**out, "qid": a.qid}

    async def _answer(self, conn: Conn, me: Member, a: rules.Action,
                      now_ms: int) -> dict[str, Any]:
        self._limit(conn.serial, me, now_ms)
        tally = await self.state.answer_card(conn.serial, a.qid, me.userid, a.answer, now_ms)
        if tally.code:
            raise fail(tally.code, tally.detail)
        self._count(conn.serial, a.qid, tally)
        return {"result": 0}

    def _count(self, serial: str, qid: str, tally: rules.Tally) -> None:
        """Keep the newest tally this node saw; send it now or when the gap allows."""
        cur = self.latest.get(serial)
        if cur is None or cur[0] != qid or tally.version > cur[1].version:
            self.latest[serial] = (qid, tally)
        delay = self.coalescer.offer(serial, self.server.now_ms())
        if delay is not None:
            self.server._tasks.add(spawn(self._send_count(serial, delay)))

    async def _send_count(self, serial: str, delay_ms: int) -> None:
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        now_ms = self.server.now_ms()
        self.coalescer.taken(serial, now_ms)      # answers from now on make another send due
        got = self.latest.pop(serial, None)
        if got is None:
            return
        qid, tally = got
        msg = rules.count_message(qid, tally, list(tally.right) if tally.right else None,
                                  now_ms)
        try:
            await self.server._publish(serial, [Event("pubMsg", msg, COUNTED)])
        except Exception:
            log.exception("could not send the answer count of %s", serial)

    async def _publish_result(self, conn: Conn, me: Member, a: rules.Action,
                              now_ms: int) -> dict[str, Any]:
        closed = await self.state.close_card(conn.serial, a.qid)
        if closed is None:
            raise fail(rules.NOT_OPEN, f"no open card {a.qid!r}")
        cur = self.latest.get(conn.serial)
        if cur is not None and cur[0] == a.qid:
            del self.latest[conn.serial]
        await self._store_answers(conn.serial, closed, now_ms)
        return await self._save_and_send(conn.serial,
                                         {**a.msg, "data": rules.result_data(closed)})

    # buzzer --------------------------------------------------------------------------------
    async def _arm(self, conn: Conn, me: Member, a: rules.Action, now_ms: int) -> dict[str, Any]:
        rnd, prev = await self.state.arm_buzzer(conn.serial)
        if prev:
            await self._delete(conn.serial, f"{rules.PRESS}_{prev}", me, now_ms)
        out = await self._save_and_send(conn.serial,
                                        {**a.msg, "data": {"round": rnd, "armed_at": now_ms}})
        return {**out, "round": rnd}

    async def _press(self, conn: Conn, me: Member, a: rules.Action,
                     now_ms: int) -> dict[str, Any]:
        self._limit(conn.serial, me, now_ms)
        got = await self.state.press_buzzer(conn.serial, a.round, me.userid, now_ms)
        if got.code == rules.ALREADY_WON:
            raise fail(got.code, f"user {got.winner} was first")
        if got.code:
            raise fail(got.code, f"the buzzer is not armed for round {a.round}")
        return await self._save_and_send(
            conn.serial, {**a.msg, "data": {"round": a.round, "pressed_at": now_ms}})

    # timer ---------------------------------------------------------------------------------
    async def _timer(self, conn: Conn, me: Member, a: rules.Action,
                     now_ms: int) -> dict[str, Any]:
        cur = await self.state.get_message(conn.serial, rules.TIMER)
        st = rules.timer_apply(rules.timer_of(cur), a.timer, a.duration_ms, now_ms)
        out = await self._save_and_send(conn.serial, {**a.msg, "data": st})
        self._schedule_end(conn.serial, st)
        return {**out, "timer": st}

    def _schedule_end(self, serial: str, st: dict[str, Any]) -> None:
        """A running timer ends on the node that started or resumed it."""
        old = self.timers.pop(serial, None)
        if old is not None:
            old.cancel()
        if st["state"] != "running":
            return
        left = rules.timer_remaining(st, self.server.now_ms())
        self.timers[serial] = asyncio.get_running_loop().call_later(
            left / 1000, lambda: self.server._tasks.add(spawn(self._end(serial,
                                                                        st["since_ms"]))))

    async def _end(self, serial: str, since_ms: int) -> None:
        self.timers.pop(serial, None)
        try:
            cur = await self.state.get_message(serial, rules.TIMER)
            st = rules.timer_of(cur)
            if cur is None or st is None or st["state"] != "running" \
                    or st["since_ms"] != since_ms:
                return          # paused, reset, restarted or removed meanwhile
            if rules.timer_remaining(cur["data"], self.server.now_ms()) > 0:
                self._schedule_end(serial, cur["data"])     # the clock ran behind the loop's
                return
            msg = {k: v for k, v in cur.items() if k != "seq"}
            msg.update(data=rules.timer_ended(cur["data"]), fromID=SERVER_ID,
                       ts=self.server.now_ms())
            await self._save_and_send(serial, msg)
        except Exception:
            log.exception("could not end the timer of %s", serial)

    # random pick and trophies --------------------------------------------------------------
    async def _dial(self, conn: Conn, me: Member, a: rules.Action, now_ms: int) -> dict[str, Any]:
        students = rules.dial_candidates(await self.state.get_members(conn.serial))
        if not students:
            raise fail(rules.NOT_OPEN, "no student is in the room")
        pick = secrets.choice(students)
        data = {"userid": pick.userid, "nickname": pick.nickname, "picked_at": now_ms}
        out = await self._save_and_send(conn.serial, {**a.msg, "data": data})
        return {**out, **data}

    async def _gift(self, conn: Conn, me: Member, a: rules.Action, now_ms: int) -> dict[str, Any]:
        receivers = list(a.receivers)
        rules.check_receivers(receivers, await self.state.get_members(conn.serial, receivers))
        totals = await self.state.give_gifts(conn.serial, receivers)
        msg = {**a.msg, "data": {"receivers": receivers, "totals": totals}}
        await self.server._publish(conn.serial, [Event("pubMsg", msg, EVERYONE)])
        try:
            await self.server.directory.add_gift(conn.serial, me.userid, receivers, now_ms)
        except Exception:
            log.exception("could not store the trophies given in %s", conn.serial)
        return {"totals": totals}

    async def room_cleared(self, serial: str) -> None:
        """The room emptied and its messages went: so do its tools (an open card's answers
        are stored first)."""
        closed = await self.state.clear_tools(serial)
        self.latest.pop(serial, None)
        handle = self.timers.pop(serial, None)
        if handle is not None:
            handle.cancel()
        if closed is not None:
            await self._store_answers(serial, closed, self.server.now_ms())

    # removal -------------------------------------------------------------------------------
    async def delmsg(self, conn: Conn, me: Member, d: rules.ToolDelete,
                     now_ms: int) -> dict[str, Any]:
        serial = conn.serial
        if d.kind == "card":
            closed = await self.state.close_card(serial, d.qid)
            if closed is not None:
                self.latest.pop(serial, None)
                await self._store_answers(serial, closed, now_ms)
        elif d.kind == "buzzer":
            await self.state.disarm_buzzer(serial)
        elif d.msg["id"] == rules.TIMER:
            handle = self.timers.pop(serial, None)
            if handle is not None:
                handle.cancel()
        await self._delete(serial, d.msg["id"], me, now_ms, d.msg)
        return {}

    async def _delete(self, serial: str, mid: str, me: Member, now_ms: int,
                      msg: dict[str, Any] | None = None) -> None:
        removed = await self.state.delete_message(serial, mid)
        msg = msg or {"name": mid.split("_", 1)[0], "id": mid, "toID": "__all", "data": {},
                      "fromID": me.userid, "ts": now_ms}
        events, _ = decisions.deleted(msg, EVERYONE, removed or [], now_ms)
        await self.server._publish(serial, events)
