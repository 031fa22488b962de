"""The signalling server: WebSocket connections, the request loop, joining and resuming.

Each request is checked by the pure rules of ``tkroom.rooms.rules``, applied through the
atomic operations of a ``tkroom.state.RoomState`` and announced with ``state.publish``; the
state delivers every event to ``LocalRoom.on_event`` on each node, which fans it out.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import logging
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import replace
from ssl import SSLContext
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tkroom import tickets
from tkroom.directory import RoomDirectory, RoomInfo
from tkroom.edge import ConnectionCap
from tkroom.errors import CodeError
from tkroom.metrics import UNKNOWN, SignalCounts
from tkroom.roles import INSPECTOR
from tkroom.rooms import board as board_rules
from tkroom.rooms import decisions, rules
from tkroom.rooms import tools as tool_rules
from tkroom.rooms.entry import check_entry
from tkroom.rooms.model import ALL, Event, Member, new_member
from tkroom.rooms.rules import fail
from tkroom.rooms.transitions import (
    ERR_EVICTED,
    ERR_SAVED_LIMIT,
    NO_LIMITS,
    JoinOutcome,
    JoinPolicy,
    SavePolicy,
)
from tkroom.signal.fanout import CLOSE_REPLACED, Conn, LocalRoom, dumps, schedule_close
from tkroom.signal.tools import Tools
from tkroom.state.base import RoomState, Session
from tkroom.state.memory import MemoryState
from tkroom.tasks import spawn

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024        # larger frames are answered with 103
HARD_FRAME = 1024 * 1024     # larger frames close the connection (1009)

ACK_WAIT = 5.0               # at most this long an ack waits for its own events to arrive
PUBLISH_BATCH = 64           # a long cascade lets the loop run other work after this many events

ATTENDANCE_QUEUE = 10_000   # entries/exits waiting to be written; beyond, one is dropped (logged)
ATTENDANCE_BATCH = 500      # entries/exits written in one transaction at most
ATTENDANCE_FLUSH = 5.0      # at stop, at most this long to write what is still queued

CLOSE_JOIN_TIMEOUT = 4003    # neither joinRoom nor resume succeeded in time
CLOSE_TOO_MANY = 4004        # the address already holds the most sockets it may

Handler = Callable[[Conn, Member, Any], Awaitable[dict[str, Any]]]
RoomHook = Callable[[str], None]

_published: contextvars.ContextVar[int] = contextvars.ContextVar("published", default=0)


class SignalServer:
    """The WebSocket endpoint of one node (``ws://host:port/``, any path).

    ``directory`` reads rooms from the store, ``state`` holds room runtime state (memory or
    Redis), ``secret`` verifies join tickets. ``grace`` is how long a session outlives its
    socket; ``out_limit`` how many unsent bytes a socket may hold before it is dropped;
    ``saved`` caps the saved messages of a room (in all, and associated with one user);
    ``board`` the board's shapes per page, their size and the drawing rate (docs/board.md).
    The drawing rate is counted on this node (a user's socket is on one node at a time; a
    resume on another node starts it afresh).
    Other planes add requests (e.g. media) with ``register``, and learn with ``room_hooks``
    when this node starts serving a room (its first local member joins or resumes), so they can
    follow the room's events from then on. Every departure (leave, expiry, eviction, hidden
    members included, and a session a same-id join replaced) is published as the internal
    event ``_departed`` (``decisions.departed``). A socket that has not joined ``join_timeout``
    seconds after it opened is closed (4003); one address holds at most ``max_conns_per_addr``
    sockets (0: no cap; the next is closed, 4004).
    Each entry (after admission) and exit (leave, eviction, replacement by a same-id join,
    expiry of a dropped socket's grace period, dated when the socket dropped) is written to the
    directory's ``login_events`` by a background task, in batches of up to ``ATTENDANCE_BATCH``
    (what queued meanwhile), so the join path never waits for the store and a join storm costs
    it a few transactions; a failed write is logged and changes nothing for the user.
    """

    def __init__(self, host: str, port: int, directory: RoomDirectory, state: RoomState,
                 secret: bytes, *, grace: float = 15.0, out_limit: int = 4 * 1024 * 1024,
                 sweep_interval: float = 1.0, group_timeout: float = 5.0,
                 join_timeout: float = 10.0, max_conns_per_addr: int = 0,
                 saved: SavePolicy = NO_LIMITS,
                 board: board_rules.BoardLimits = board_rules.DEFAULT_LIMITS,
                 clock: Callable[[], float] = time.time,
                 ssl: SSLContext | None = None) -> None:
        self.host, self.port = host, port
        self.ssl = ssl  # shared with the HTTP listener: a certificate reload reaches both
        self.saved = saved
        self.board = board
        self.shapes_policy = replace(saved, max_children=board.max_shapes)
        self.board_rate = board_rules.RateLimiter(board.rate)
        self.directory, self.state, self.secret = directory, state, secret
        self.grace, self.out_limit = grace, out_limit
        self.sweep_interval, self.group_timeout = sweep_interval, group_timeout
        self.clock = clock
        self.join_timeout = join_timeout
        self.cap = ConnectionCap(max_conns_per_addr)
        self.rooms: dict[str, LocalRoom] = {}
        self.handlers: dict[str, Handler] = {
            "leaveRoom": self._leave_room, "setProperty": self._set_property,
            "sendMessage": self._send_message, "pubMsg": self._pub_msg, "delMsg": self._del_msg,
            "evictParticipant": self._evict, "getUser": self._get_user,
            "getRoomUsers": self._get_room_users, "getRoomUserNum": self._get_room_user_num,
            "joinGroup": self._join_group, "leaveGroup": self._leave_group,
        }
        self._server: Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: weakref.WeakSet[asyncio.Task[None]] = weakref.WeakSet()  # cancelled on stop
        self._stopping = False
        self.max_pending = 10_000
        self.room_hooks: list[RoomHook] = []
        self.counts = SignalCounts()  # read by tkroom.metrics at scrape time
        self._told: set[str] = set()  # sockets (cid) told to reconnect
        self._sockets_gone = asyncio.Event()  # set whenever the last socket closed
        self._attendance: asyncio.Queue[dict[str, Any]] = asyncio.Queue(ATTENDANCE_QUEUE)
        self._recorder: asyncio.Task[None] | None = None
        self._attendance_dropped = 0
        self.tools = Tools(self)              # the classroom tools (docs/tools.md)

    # life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Listen; ``port`` 0 picks a free port (read it back from ``self.port``)."""
        self._server = await serve(self._serve, self.host, self.port, max_size=HARD_FRAME,
                                   compression=None, max_queue=64, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        self._recorder = asyncio.get_running_loop().create_task(self._record_attendance())
        self.state.on_restart(self._restore)
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        """Stop listening and close every socket (sessions stay for other nodes to resume)."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            # not ``await``: a state call being cancelled must not hold the node's stop
            await asyncio.wait([self._sweeper], timeout=2.0)
        self._tell_reconnect()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.tools.stop()
        for task in list(self._tasks):
            task.cancel()
        for room in list(self.rooms.values()):
            self.state.unsubscribe(room.serial, room.on_event)
        self.rooms.clear()
        if isinstance(self.state, MemoryState):
            await self._state_ends()
        await self._stop_recorder()

    async def drain(self) -> None:
        """The node is being stopped (and load balancers have stopped sending it clients):
        every client is told to reconnect, and this returns once every socket has gone (the
        node bounds the wait). A socket opened meanwhile is told at ``stop``."""
        self._tell_reconnect()
        while self.cap.open:
            self._sockets_gone.clear()
            await self._sockets_gone.wait()

    def _tell_reconnect(self) -> None:
        """``forceReconnect`` to every joined socket not told yet."""
        notice = dumps({"ev": "forceReconnect", "data": {"reason": "node stopping"}})
        for room in self.rooms.values():
            for conn in room.conns.values():
                if conn.cid not in self._told:
                    self._told.add(conn.cid)
                    conn.write(notice)
                    self.counts.force_reconnects += 1
            room.flush()

    def local_load(self) -> tuple[int, dict[int, int], int]:
        """(rooms, members by role, sockets) on this node right now, for the metrics."""
        by_role: dict[int, int] = {}
        for room in self.rooms.values():
            for conn in room.conns.values():
                by_role[conn.role] = by_role.get(conn.role, 0) + 1
        return len(self.rooms), by_role, sum(self.cap.open.values())

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}/"

    async def _publish(self, serial: str, events: list[Event]) -> None:
        """Publish in order; remember the last ``s`` so the ack waits for its own events.
        The memory state publishes without awaiting anything, so a long cascade (a leave
        taking hundreds of saved messages with it) yields to the loop between batches."""
        for i, event in enumerate(events):
            if i and not i % PUBLISH_BATCH:
                await asyncio.sleep(0)
            stamped = await self.state.publish(serial, event)
            _published.set(max(_published.get(), stamped.s))

    def register(self, ev: str, handler: Handler) -> None:
        """Answer requests named ``ev`` (for joined clients) with ``handler``."""
        self.handlers[ev] = handler

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # attendance ------------------------------------------------------------------------
    def _attend(self, serial: str, member: Member, *, entering: bool, ts_ms: int,
                clienttype: str = "", address: str = "") -> None:
        """Queue an entry or exit for the store; never waits, never raises."""
        record = {"serial": serial, "userid": member.userid, "entering": entering,
                  "ts_ms": ts_ms, "role": member.role, "nickname": member.nickname,
                  "clienttype": clienttype, "address": address, "sid": member.session}
        try:
            self._attendance.put_nowait(record)
        except asyncio.QueueFull:
            self._attendance_dropped += 1
            log.error("attendance queue full (%d waiting): %s of %s in %s not recorded "
                      "(%d dropped so far)", ATTENDANCE_QUEUE, "entry" if entering else "exit",
                      member.userid, serial, self._attendance_dropped)

    async def _record_attendance(self) -> None:
        """Write queued entries and exits in order (an exit after its entry), each time all
        that queued meanwhile (up to ``ATTENDANCE_BATCH``) in one call."""
        while True:
            batch = [await self._attendance.get()]
            while len(batch) < ATTENDANCE_BATCH and not self._attendance.empty():
                batch.append(self._attendance.get_nowait())
            try:
                await self.directory.login_events(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                first = batch[0]
                log.exception("could not record the %s of %s in %s%s",
                              "entry" if first["entering"] else "exit", first["userid"],
                              first["serial"], f" and {len(batch) - 1} more" if batch[1:] else "")
            finally:
                for _ in batch:
                    self._attendance.task_done()

    async def _state_ends(self) -> None:
        """The room state lives in this process and ends with it: nobody can resume, so every
        member still in a room leaves now (or when its socket dropped, if it is in its grace
        period) as far as the attendance records go. A shared state keeps the sessions for
        another node's sweeper instead."""
        assert isinstance(self.state, MemoryState)
        now = self.clock()
        for sid, session in list(self.state.sessions.items()):
            found = await self.state.get_members(session.serial, [session.userid])
            if found and found[0].session == sid:
                at = now if session.deadline is None else min(now, session.deadline - self.grace)
                self._attend(session.serial, found[0], entering=False, ts_ms=int(at * 1000))

    async def _stop_recorder(self) -> None:
        """Write what is queued (bounded by ``ATTENDANCE_FLUSH``), then stop the writer."""
        if self._recorder is None:
            return
        try:
            await asyncio.wait_for(self._attendance.join(), ATTENDANCE_FLUSH)
        except TimeoutError:
            log.warning("stopping with %d entries/exits not recorded", self._attendance.qsize())
        self._recorder.cancel()
        await asyncio.wait([self._recorder], timeout=2.0)
        self._recorder = None

    # the request loop ------------------------------------------------------------------
    async def _serve(self, ws: ServerConnection) -> None:
        addr = str(ws.remote_address[0]) if ws.remote_address else "?"
        if not self.cap.enter(addr):
            await ws.close(CLOSE_TOO_MANY, self.cap.refusal(addr))
            return
        conn = Conn(ws, secrets.token_hex(8), self.out_limit, self.counts)
        late = asyncio.get_running_loop().call_later(self.join_timeout, self._join_late, conn)
        try:
            async for raw in ws:
                await self._on_frame(conn, raw)
                # a request on the memory state may complete without suspending, and frames
                # already received are read without suspending either: one request per turn,
                # so a client's burst never holds the loop (and the other clients) for long
                await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            late.cancel()
            self.cap.leave(addr)
            self._told.discard(conn.cid)
            if not self.cap.open:
                self._sockets_gone.set()
            await self._on_socket_gone(conn)

    def _join_late(self, conn: Conn) -> None:
        """An idle socket costs the node memory for nothing: without a room by now, it goes. (A
        join still under way then fails; its session would be detached like any dropped one.)"""
        if not conn.joined:
            self._tasks.add(spawn(conn.ws.close(CLOSE_JOIN_TIMEOUT,
                                                f"not joined within {self.join_timeout:g} s")))

    async def _on_frame(self, conn: Conn, raw: str | bytes) -> None:
        rid: Any = None
        name = "invalid"  # the request's name as a metric label: one the server answers
        try:
            if isinstance(raw, bytes):
                raise fail(103, "binary frames are not part of the protocol")
            if len(raw) > MAX_FRAME:
                raise fail(103, f"frame larger than {MAX_FRAME} bytes")
            try:
                req = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise fail(103, "the frame is not JSON (or nested too deeply)") from exc
            if not isinstance(req, dict):
                raise fail(103, "a request is a JSON object")
            rid = req.get("id")
            if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int | str)):
                rid = None
                raise fail(103, "id must be an integer or a string")
            if "\\u" in raw:       # escapes may smuggle in lone surrogates, which are not UTF-8
                try:
                    dumps(req).encode()
                except UnicodeEncodeError as exc:
                    # the id is echoed when it is itself valid UTF-8 (a "\\u0080" id is)
                    rid = rid if not isinstance(rid, str) or _utf8(rid) else None
                    raise fail(103, "a string holds a lone surrogate (not UTF-8)") from exc
            ev = req.get("ev")
            if not isinstance(ev, str):
                raise fail(103, "ev is missing")
            name = ev if ev in self.handlers or ev in _JOINS else UNKNOWN
            data = req.get("data", {})
            _published.set(0)
            result = await self._dispatch(conn, ev, data)
            room = conn.room
            if room is not None and room.delivered < _published.get():
                # a clustered state delivers our own events asynchronously: they come first
                await room.caught_up(_published.get(), ACK_WAIT)
            conn.write(dumps({"ack": rid, "code": 0, "data": result}))
            after, conn.after_ack = conn.after_ack, None
            if after is not None:
                after()
        except CodeError as exc:
            refused = self.counts.refusals if name in _JOINS else self.counts.errors
            refused[exc.code] = refused.get(exc.code, 0) + 1
            if conn.pending is not None:     # a join or resume failed half-way
                conn.pending = None
                if conn.room is not None:
                    conn.room.changed()
            conn.write(dumps({"ack": rid, "code": exc.code, "msg": exc.message}))
        except Exception:
            log.exception("request failed")
            if conn.pending is not None:
                conn.pending = None
                if conn.room is not None:
                    conn.room.changed()
            conn.write(dumps({"ack": rid, "code": 2510, "msg": "Server exception"}))
            errors = self.counts.refusals if name in _JOINS else self.counts.errors
            errors[2510] = errors.get(2510, 0) + 1
        finally:
            requests = self.counts.requests
            requests[name] = requests.get(name, 0) + 1

    async def _dispatch(self, conn: Conn, ev: str, data: Any) -> dict[str, Any]:
        if ev == "joinRoom":
            if conn.joined:
                raise fail(102, "already in a room")
            return await self._join_room(conn, data)
        if ev == "resume":
            if conn.joined:
                raise fail(102, "already in a room")
            return await self._resume(conn, data)
        handler = self.handlers.get(ev)
        if handler is None:
            raise fail(103, f"unknown request {ev[:64]!r}")
        if not conn.joined:
            raise fail(2508)
        members = await self.state.get_members(conn.serial, [conn.userid])
        if (not members or members[0].session != conn.sid) and await self.state.check_restart():
            # the state had lost us (Redis restarted): this node has just put us back
            members = await self.state.get_members(conn.serial, [conn.userid])
        if not members or members[0].session != conn.sid:
            self._unregister(conn)
            raise fail(2508, "no longer in the room")
        return await handler(conn, members[0], data)

    # local registry --------------------------------------------------------------------
    async def _register(self, conn: Conn) -> None:
        """Add the connection to its local room; returns once the room's events reach this
        node (a clustered state subscribes asynchronously), so a snapshot taken after it
        misses nothing."""
        room = self.rooms.get(conn.serial)
        if room is None:
            room = self.rooms[conn.serial] = LocalRoom(conn.serial, self._close_conn, self.counts)
            room.ready = asyncio.ensure_future(self.state.subscribe(conn.serial, room.on_event))
            for hook in self.room_hooks:
                try:
                    hook(conn.serial)
                except Exception:
                    log.exception("room hook failed for %s", conn.serial)
        room.add(conn)
        try:
            await asyncio.shield(room.ready)
        except Exception:
            self._unregister(conn)
            raise

    def _unregister(self, conn: Conn) -> None:
        room = self.rooms.get(conn.serial)
        if room is not None and room.conns.get(conn.sid) is conn:
            room.remove(conn)
            if not room.conns:
                self.state.unsubscribe(room.serial, room.on_event)
                del self.rooms[room.serial]
        conn.sid = ""

    def _close_conn(self, conn: Conn, code: int, reason: str) -> None:
        self._unregister(conn)
        schedule_close(conn, code, reason)

    async def _on_socket_gone(self, conn: Conn) -> None:
        """A socket closed: its session waits ``grace`` seconds for a resume."""
        if not conn.joined or conn.ended:
            return
        sid = conn.sid
        self._unregister(conn)
        await self.state.detach_session(sid, self.clock() + self.grace)

    async def _restore(self) -> None:
        """The state restarted and may have lost this node's members (Redis without
        persistence loses all; with AOF the last second at most): put back every member this
        node holds a socket for, with its session, as the node knows it. Sockets stay open and
        nobody has to rejoin or resume."""
        held = [(Session(c.sid, c.token, c.serial, c.userid), c.member)
                for room in list(self.rooms.values()) for c in list(room.conns.values())
                if c.member is not None and c.sid]
        await self.state.restore(held, self.clock())

    async def _sweep(self) -> None:
        """Sessions whose grace period ran out leave their rooms (on whichever node)."""
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                now = self.clock()
                for sid in await self.state.expired_sessions(now):
                    session = await self.state.expire_session(sid, now)
                    if session is not None:
                        # the user left when the socket dropped, not when the grace ended
                        dropped = (session.deadline or now) - self.grace
                        await self._leave(session.serial, session.userid, sid,
                                          at_ms=int(min(dropped, now) * 1000))
            except Exception:
                if self._stopping:          # the state may be closing under us: not a fault
                    return
                log.exception("session sweep failed")

    # joining -----------------------------------------------------------------------------
    async def _room_info(self, serial: str) -> RoomInfo:
        info = await self.directory.room(serial)
        check_entry(serial, info.entry() if info is not None else None, self.clock())
        assert info is not None
        return info

    async def _identify(self, data: Any) -> tickets.Identity:
        if not isinstance(data, dict):
            raise fail(63, "joinRoom data must be an object")
        now = self.clock()
        if "ticket" in data:
            if not isinstance(data["ticket"], str):
                raise fail(63, "ticket must be a string")
            ident = tickets.verify(self.secret, data["ticket"], now)
        elif isinstance(data.get("serial"), str):
            key = data.get("loginkey")
            if key is None or key == "":
                raise fail(5300)
            if not isinstance(key, str):
                raise fail(5301, "the login key must be a string of 40 hexadecimal characters")
            ident = await self.directory.verify_login_key(data["serial"], key, now)
        else:
            raise fail(63, "joinRoom needs a ticket, or a serial and a loginkey")
        if data.get("userId") is not None and data["userId"] != ident.userid:
            raise fail(63, "userId differs from the one the proof was issued for")
        return ident

    async def _is_big(self, serial: str) -> bool:
        return await self.state.has_message(serial, rules.BIG_ROOM_ID)

    async def _join_room(self, conn: Conn, data: Any) -> dict[str, Any]:
        ident = await self._identify(data)
        custom = rules.custom_properties(data.get("properties"))
        info = await self._room_info(ident.serial)
        serial, now_ms = ident.serial, self.now_ms()
        sid, token = secrets.token_urlsafe(12), secrets.token_urlsafe(18)
        gifts = await self.state.gift_totals(ident.serial, [ident.userid])
        if gifts:           # trophies stay with the user through a rejoin (docs/tools.md)
            custom["giftnumber"] = gifts[ident.userid]
        member = new_member(ident.userid, ident.role, ident.nickname, sid, custom, now_ms)
        if info.maxsidelineusers > 0:
            maxviewers: int | None = info.maxsidelineusers
        else:
            maxviewers = None if info.allowsidelineuser else 0
        policy = JoinPolicy(info.maxusers, maxviewers, info.singlelogin)
        out = await self.state.add_member(serial, member, policy)
        if out.code == ERR_EVICTED:
            wait = -(-(out.until_ms - now_ms) // 1000)
            raise fail(out.code, f"evicted from this room: you may enter again in {wait} s")
        if out.code:
            raise fail(out.code, _JOIN_DETAIL.get(out.code, ""))
        assert out.member is not None       # as stored: a replaced session's grants carried over
        await self.state.open_session(Session(sid, token, serial, ident.userid))
        try:
            answer = await self._announce_join(conn, ident, info, out.member, out, token)
        except BaseException:
            # nobody must stay in the room without a socket or a session to expire
            self._unregister(conn)
            conn.pending = None
            await self.state.remove_member(serial, ident.userid, sid, info.keepstate)
            await self.state.close_session(sid)
            raise
        if out.replaced is not None:
            self._attend(serial, out.replaced, entering=False, ts_ms=now_ms)
        self._attend(serial, out.member, entering=True, ts_ms=out.member.joined_ms,
                     clienttype=_client_type(data), address=_address(conn))
        return answer

    async def _announce_join(self, conn: Conn, ident: tickets.Identity, info: RoomInfo,
                             member: Member, out: JoinOutcome, token: str) -> dict[str, Any]:
        serial, sid, now_ms = ident.serial, member.session, member.joined_ms
        big = await self._is_big(serial)
        if decisions.needs_big_room(out.count, info.bigroomthreshold, big):
            saved = await self.state.save_message(serial, decisions.big_room_message(now_ms))
            await self._publish(serial, decisions.entered_big_room(saved))
            big = True
        await self._publish(serial, decisions.joined(member, out.replaced, big))
        if out.replaced is not None:
            await self.state.close_session(out.replaced.session)
        conn.serial, conn.userid, conn.role, conn.sid = serial, ident.userid, ident.role, sid
        conn.group, conn.pending = member.group, []
        conn.member, conn.token = replace(member, properties=dict(member.properties)), token
        await self._register(conn)
        snap = await self.state.snapshot(serial, big)
        conn.after_ack = lambda: conn.flush_pending(snap.s)
        self.counts.joins[ident.role] = self.counts.joins.get(ident.role, 0) + 1
        _published.set(0)       # what the join published was for the others (or is in snap)
        answer = decisions.join_answer(member, info.public(), snap, big, sid, token)
        answer["serverTime"] = self.now_ms()   # clients correct their clocks by it (tools)
        return answer

    async def _resume(self, conn: Conn, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise fail(103, "resume data must be an object")
        sid, token, last = data.get("session"), data.get("token"), data.get("last")
        if not (isinstance(sid, str) and isinstance(token, str) and isinstance(last, int)):
            raise fail(103, "resume needs session, token and last")
        session = await self.state.attach_session(sid, token)
        if session is None:
            raise fail(102, "the session is gone: join again")
        members = await self.state.get_members(session.serial, [session.userid])
        if not members or members[0].session != sid:
            raise fail(102, "the session is gone: join again")
        me = members[0]
        room = self.rooms.get(session.serial)
        old = room.conns.get(sid) if room is not None else None
        if old is not None:
            self._close_conn(old, CLOSE_REPLACED, "session resumed on another socket")
        conn.serial, conn.userid, conn.role, conn.sid = session.serial, me.userid, me.role, sid
        conn.group, conn.pending = me.group, []
        conn.member, conn.token = replace(me, properties=dict(me.properties)), token
        await self._register(conn)
        missed = await self.state.replay(session.serial, last)
        if missed is None:
            self._unregister(conn)
            await self.state.detach_session(sid, self.clock() + self.grace)
            raise fail(102, "missed events are no longer kept: join again")
        await self._publish(session.serial, [decisions.taken_over(sid, conn.cid)])
        mine = decisions.missed_for(missed, me)
        upto = missed[-1].s if missed else last
        conn.after_ack = lambda: self._tasks.add(spawn(self._replay_then_flush(conn, mine, upto)))
        self.counts.resumes += 1
        _published.set(0)       # the takeover notice is for other nodes, not for this socket
        return {"s": upto, "serverTime": self.now_ms()}

    async def _replay_then_flush(self, conn: Conn, events: list[Event], upto: int) -> None:
        """Send the missed events with back-pressure (a burst may be large), then go live;
        events published meanwhile wait in ``conn.pending``."""
        try:
            for e in events:
                await conn.ws.send(dumps(e.frame()))
                if len(conn.pending or ()) > self.max_pending:
                    self.counts.slow_consumers += 1
                    conn.ws.transport.abort()
                    return
        except ConnectionClosed:
            return
        conn.flush_pending(upto)

    # leaving -----------------------------------------------------------------------------
    async def _leave(self, serial: str, userid: str, sid: str, at_ms: int | None = None) -> None:
        """Take a member out (leave, eviction, expiry) and announce what that changes;
        ``at_ms`` dates the exit (default: now)."""
        info = await self.directory.room(serial)
        keep = bool(info and info.keepstate)
        big = await self._is_big(serial)
        out = await self.state.remove_member(serial, userid, sid, keep)
        await self.state.close_session(sid)
        events, classstate = decisions.left(out, big, self.now_ms())
        if out.empty and not keep:
            await self.tools.room_cleared(serial)
        if out.member is not None:
            events.append(decisions.departed(out.member))
            self._attend(serial, out.member, entering=False,
                         ts_ms=self.now_ms() if at_ms is None else at_ms)
        await self._publish(serial, events)
        if classstate is not None:
            await self._class_state(serial, classstate)

    async def _class_state(self, serial: str, state: int) -> None:
        """The class began or ended: the enterprise is told; an end also empties the stage."""
        if state == decisions.CLASS_ENDED:
            await self._clear_stage(serial)
        try:
            await self.directory.class_state(serial, state, self.clock())
        except Exception:
            log.exception("class_state callback failed for %s", serial)

    async def _clear_stage(self, serial: str) -> None:
        """Take everyone but the teacher and assistants off stage (``decisions.stage_cleared``),
        announced as the server's ``setProperty`` events (the media plane withdraws the
        streams ``publishstate`` 0 no longer allows)."""
        changes = decisions.stage_cleared(await self.state.get_members(serial))
        big = await self._is_big(serial) if changes else False
        for m, props in changes:
            was_on_stage = m.on_stage
            updated = await self.state.update_properties(serial, m.userid, props)
            if updated is not None:
                await self._publish(serial, decisions.property_changed(
                    was_on_stage, updated, props, rules.SERVER_ID, ALL, big))

    async def _leave_room(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        sid = conn.sid
        self._unregister(conn)
        await self._leave(conn.serial, me.userid, sid)
        return {}

    # requests of joined clients ----------------------------------------------------------
    async def _set_property(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise fail(103, "setProperty data must be an object")
        kind, subject = rules.parse_property_subject(data.get("id"))
        target = rules.parse_target(data.get("toID", "__all"), me.userid)
        if kind == "id":
            members = await self.state.get_members(conn.serial, [subject])
        elif kind == "ids":
            members = await self.state.get_members(conn.serial, subject)
        else:
            if not rules.is_super(me):
                raise fail(4108, "only the teacher and assistants change properties by role")
            members = [m for m in await self.state.get_members(conn.serial)
                       if m.role in subject]
        members = [m for m in members if m.role != INSPECTOR or m.userid == me.userid]
        if not members and kind != "roles":
            raise fail(104)
        props: dict[str, Any] = {}
        for m in members:
            props = rules.check_properties(me, m, data.get("properties"))
        big = await self._is_big(conn.serial)
        for m in members:
            was_on_stage = m.on_stage
            updated = await self.state.update_properties(conn.serial, m.userid, props)
            if updated is not None:
                await self._publish(conn.serial, decisions.property_changed(
                    was_on_stage, updated, props, me.userid, target, big))
        return {}

    async def _send_message(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        now_ms = self.now_ms()
        banned = await self.state.has_message(conn.serial, rules.BAN_CHAT_ID)
        chat = rules.check_chat(me, data, banned, now_ms)
        if chat.gated and not await self.state.chat_gate(conn.serial, me.userid, now_ms,
                                                         rules.CHAT_MIN_GAP_MS):
            raise fail(62)
        await self._publish(conn.serial, [decisions.chatted(chat.data, chat.target)])
        try:
            await self.directory.save_chat(conn.serial, chat.data)
        except Exception:
            log.exception("could not keep a chat message of %s", conn.serial)
        return {"ts": now_ms}

    async def _pub_msg(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        now_ms = self.now_ms()
        action = tool_rules.check_pubmsg(me, data, now_ms)
        if action is not None:
            return await self.tools.pubmsg(conn, me, action, now_ms)
        pub = board_rules.check_pubmsg(me, data, now_ms, self.board)
        msg, target = pub.msg, pub.target
        if not pub.board:
            tool_rules.check_not_tool(msg)
        if pub.board:
            self._drawing_rate(conn, me, now_ms)
        if pub.kind == "clear":
            out = await self.state.delete_children(conn.serial, pub.parent)
            events, classstate = decisions.cleared(msg, target, out, now_ms)
            await self._publish(conn.serial, events)
            if classstate is not None:
                await self._class_state(conn.serial, classstate)
            return {"seq": 0}
        saved = None
        if msg["save"]:
            policy = self.shapes_policy if pub.kind == "shape" else self.saved
            saved = await self.state.save_message(conn.serial, msg, policy,
                                                  author=rules.saved_author(me))
            if saved.refused == "author":
                raise fail(4108, f"the saved message {msg['id']!r} is someone else's: only its "
                                 "author, the teacher or an assistant may replace it")
            if saved.refused == "children":
                raise fail(103, f"the page already holds {self.board.max_shapes} shapes, the "
                                "most it may: erase some or clear it")
            if saved.refused:
                raise fail(ERR_SAVED_LIMIT, rules.saved_limit_detail(saved.refused, self.saved, msg))
        events, classstate = decisions.published(msg, target, saved)
        await self._publish(conn.serial, events)
        if classstate is not None:
            await self._class_state(conn.serial, classstate)
        return {"seq": saved.message["seq"] if saved else 0}

    def _drawing_rate(self, conn: Conn, me: Member, now_ms: int) -> None:
        """Refuse (2602), never drop, a board message beyond the user's drawing rate."""
        if not self.board_rate.allow((conn.serial, me.userid), now_ms):
            raise fail(2602, f"more than {self.board.rate} board messages a second (bursts of "
                             f"{2 * self.board.rate}): this one was not sent, send it again")

    async def _del_msg(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        now_ms = self.now_ms()
        tool = tool_rules.check_delmsg(me, data, now_ms)
        if tool is not None:
            return await self.tools.delmsg(conn, me, tool, now_ms)
        delete = board_rules.check_delmsg(me, data, now_ms)
        msg, target = delete.msg, delete.target
        if delete.board:
            self._drawing_rate(conn, me, now_ms)
        removed = await self.state.delete_message(conn.serial, msg["id"], rules.saved_author(me))
        if removed is None:
            raise fail(4108, f"the saved message {msg['id']!r} is someone else's: only its "
                             "author, the teacher or an assistant may delete it")
        events, classstate = decisions.deleted(msg, target, removed, now_ms)
        await self._publish(conn.serial, events)
        if classstate is not None:
            await self._class_state(conn.serial, classstate)
        return {}

    async def _evict(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise fail(103, "evictParticipant needs the id of the user")
        found = await self.state.get_members(conn.serial, [data["id"]])
        victim = found[0] if found else None
        rules.check_evict(me, victim)
        assert victim is not None
        info = await self.directory.room(conn.serial)
        if info is not None and info.evictseconds > 0:
            # barred first: a join racing the eviction is refused, not let in
            now_ms = self.now_ms()
            await self.state.bar_member(conn.serial, victim.userid,
                                        now_ms + info.evictseconds * 1000, now_ms)
        await self._publish(conn.serial, [decisions.evicted(victim, data.get("reason"),
                                                            me.userid)])
        await self._leave(conn.serial, victim.userid, victim.session)
        return {}

    async def _get_user(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        ids = data.get("ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not ids or len(ids) > rules.PAGE_MAX \
                or not all(isinstance(u, str) for u in ids):
            raise fail(103, "getUser needs ids: a list of user ids")
        found = [m.public() for m in await self.state.get_members(conn.serial, ids)
                 if m.role != INSPECTOR or m.userid == me.userid]
        if not found:
            raise fail(104)
        return {"users": found}

    async def _get_room_users(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        users, total = rules.page_users(await self.state.get_members(conn.serial), data)
        return {"userlist": users, "total": total}

    async def _get_room_user_num(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        return {"num": rules.count_users(await self.state.get_members(conn.serial), data)}

    async def _join_group(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        gid = rules.check_join_group(me, data)
        try:
            exists = await asyncio.wait_for(self.directory.group_exists(conn.serial, gid),
                                            self.group_timeout)
        except TimeoutError as exc:
            raise fail(155) from exc
        if not exists:
            raise fail(156, f"the room has no group {gid!r}")
        await self._set_group(conn, me, gid)
        members = await self.state.get_members(conn.serial)
        return {"group": gid, "userlist": [m.public() for m in members
                                           if m.group == gid and m.role != INSPECTOR]}

    async def _leave_group(self, conn: Conn, me: Member, data: Any) -> dict[str, Any]:
        if me.group is None:
            raise fail(102, "not in a group")
        await self._set_group(conn, me, None)
        return {}

    async def _set_group(self, conn: Conn, me: Member, gid: str | None) -> None:
        await self.state.update_properties(conn.serial, me.userid, {"group": gid})
        conn.group = gid
        await self._publish(conn.serial, [decisions.group_changed(me.userid, gid)])


_JOINS = ("joinRoom", "resume")

_JOIN_DETAIL = {
    63: "the room already has a teacher",
    64: "the room is full",
    5011: "no more live viewers may join",
    5208: "this room refuses a second login with the same user id",
}


def _client_type(data: dict[str, Any]) -> str:
    """The device the client says it is (``joinRoom``'s ``clientType``: the original's
    numbers or a short name), for the attendance records only."""
    v = data.get("clientType")
    if isinstance(v, bool) or not isinstance(v, int | str):
        return ""
    return "".join(c for c in str(v)[:32] if c.isprintable())


def _address(conn: Conn) -> str:
    peer = conn.ws.remote_address
    return str(peer[0])[:64] if peer else ""


def _utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (JSON escapes can carry lone surrogates, which do not)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
