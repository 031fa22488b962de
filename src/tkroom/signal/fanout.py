"""Delivering a room's events to this node's connections: encode once, write to many.

The hot path of the whole platform: one ``json.dumps`` per event and one WebSocket frame built
from it (server frames are unmasked and we run without compression, so the bytes are the same
for every recipient, as Node's socket.io does), the recipients picked by matching the event's
``Target`` against each local connection (the everyone / everyone-but-X lists are cached),
then the same bytes written to each transport — no per-recipient task, queue, encoding or
framing. Events of one event-loop turn that go to the same recipients are joined and written
with one ``send`` per socket (the system call is most of the cost of a delivery). Output per
connection is bounded: a connection whose write buffer grows past ``out_limit`` is dropped
(its session survives the grace period and resuming replays what it missed).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from tkroom.metrics import SignalCounts
from tkroom.rooms.model import Event, Member
from tkroom.tasks import spawn

log = logging.getLogger(__name__)

CLOSE_EVICTED = 4001
CLOSE_REPLACED = 4002


OPEN = State.OPEN


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def text_frame(text: str) -> bytes:
    """One server-to-client text frame, ready to write to any connection (the server
    neither masks nor compresses, so the frame does not depend on the connection)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class Conn:
    """One client socket; once joined it carries the member's routing facts."""

    __slots__ = ("ws", "cid", "serial", "userid", "role", "group", "sid", "pending", "ended",
                 "out_limit", "after_ack", "floor", "room", "member", "token", "counts")

    def __init__(self, ws: ServerConnection, cid: str, out_limit: int,
                 counts: SignalCounts | None = None) -> None:
        self.ws = ws
        self.counts = counts if counts is not None else SignalCounts()
        self.cid = cid
        self.serial = ""
        self.userid = ""
        self.role = -1
        self.group: str | None = None
        self.sid = ""
        self.pending: list[tuple[int, bytes]] | None = None  # events held while joining/resuming
        self.ended = False          # True: the session ended on purpose (no grace period)
        self.out_limit = out_limit
        self.after_ack: Callable[[], None] | None = None  # runs right after the next ack
        self.floor = 0     # the last ``s`` a join snapshot or resume replay already covered
        self.room: LocalRoom | None = None
        # the member as this node knows it, kept current from the room's events, and the
        # session's token: what the node puts back if the state loses them (Redis restart)
        self.member: Member | None = None
        self.token = ""

    @property
    def joined(self) -> bool:
        return bool(self.sid)

    def write(self, text: str) -> None:
        """Queue one message (an ack) without waiting, behind the room's events not yet
        written to this socket, so a request's own events come before its ack."""
        room = self.room
        if room is not None and room.outbox and self.pending is None:
            room.queue((self,), text_frame(text), 0)
        else:
            self.write_frame(text_frame(text))

    def write_frame(self, frame: bytes) -> None:
        ws = self.ws
        if ws.protocol.state is OPEN:
            ws.transport.write(frame)
            self.counts.deliveries += 1
            if ws.paused:
                self.check_output()

    def check_output(self) -> None:
        ws = self.ws
        if ws.transport.get_write_buffer_size() > self.out_limit:
            log.info("dropping %s: %d bytes unsent", self.userid or self.cid,
                     ws.transport.get_write_buffer_size())
            self.counts.slow_consumers += 1
            ws.transport.abort()

    def flush_pending(self, after: int) -> None:
        """Send the events held while joining, those after ``after`` only, and go live."""
        held, self.pending = self.pending or [], None
        self.floor = after
        for s, frame in held:
            if s > after:
                self.write_frame(frame)
        if self.room is not None:
            self.room.changed()


class LocalRoom:
    """This node's connections in one room, subscribed to the room's events in the state.

    Events are routed when they arrive (a joining or resuming socket, ``pending``, holds its
    own) and written to live sockets at the end of the event-loop turn (``flush``).
    """

    def __init__(self, serial: str, on_close: Callable[[Conn, int, str], None],
                 counts: SignalCounts | None = None) -> None:
        self.serial = serial
        self.counts = counts if counts is not None else SignalCounts()
        self.conns: dict[str, Conn] = {}     # by session id
        self.members: dict[str, Member] = {}  # the local members' records, by user id
        self.on_close = on_close
        self.ready: asyncio.Future[None]     # done when the state delivers the room's events
        self.outbox: list[tuple[Sequence[Conn], bytes, int]] = []
        self._everyone: tuple[Conn, ...] | None = None
        self._but: dict[str, tuple[Conn, ...]] = {}
        self._joining: tuple[Conn, ...] = ()
        self.delivered = 0                   # the highest ``s`` the state delivered here
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def add(self, conn: Conn) -> None:
        self.conns[conn.sid] = conn
        conn.room = self
        if conn.member is not None:
            self.members[conn.userid] = conn.member
        self.changed()

    def remove(self, conn: Conn) -> None:
        del self.conns[conn.sid]
        conn.room = None
        if conn.member is not None and self.members.get(conn.userid) is conn.member:
            del self.members[conn.userid]
        self.changed()

    def changed(self) -> None:
        """Forget the cached recipient lists (a socket came, left, or went live)."""
        self._everyone = None
        self._but.clear()
        self._joining = tuple(c for c in self.conns.values() if c.pending is not None)

    def everyone(self) -> tuple[Conn, ...]:
        if self._everyone is None:
            self._everyone = tuple(c for c in self.conns.values() if c.pending is None)
        return self._everyone

    def everyone_but(self, userid: str) -> tuple[Conn, ...]:
        got = self._but.get(userid)
        if got is None:
            if len(self._but) > 64:
                self._but.clear()
            got = self._but[userid] = tuple(c for c in self.everyone() if c.userid != userid)
        return got

    def on_event(self, event: Event) -> None:
        """The state's subscriber: route one stamped event to the local connections."""
        if event.s > self.delivered:
            self.delivered = event.s
            if self._waiters:
                self._wake()
        target = event.target
        kind = target.kind
        if kind == "none":
            if event.ev == "_takeover":
                self._takeover(event.data)
            return
        if event.ev == "setProperty":
            props = event.data["properties"]
            member = self.members.get(event.data["id"])
            if member is not None:
                member.merge(props)
            if "group" in props:
                for c in self.conns.values():
                    if c.userid == event.data["id"]:
                        c.group = props["group"]
        if kind == "all":
            chosen: Sequence[Conn] = self.everyone()
        elif kind == "except_sender":
            chosen = self.everyone_but(target.sender)
        else:
            chosen = [c for c in self.everyone()
                      if target.matches(c.userid, c.role, c.group, c.sid)]
        waiting = [c for c in self._joining
                   if c.pending is not None and target.matches(c.userid, c.role, c.group, c.sid)]
        if not chosen and not waiting:
            return
        frame = text_frame(dumps(event.frame()))
        for c in waiting:
            c.pending.append((event.s, frame))  # type: ignore[union-attr]
        if chosen:
            self.queue(chosen, frame, event.s)
        if event.ev == "participantEvicted" and kind == "session":
            for sid in target.ids:
                conn = self.conns.get(sid)
                if conn is not None:
                    self.on_close(conn, CLOSE_EVICTED, "evicted")

    async def caught_up(self, s: int, wait: float) -> None:
        """Return once events up to ``s`` were delivered here (or after ``wait`` seconds)."""
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((s, fut))
        try:
            await asyncio.wait_for(fut, wait)
        except TimeoutError:
            log.warning("room %s: event %d not delivered back within %.1fs", self.serial, s, wait)
        finally:
            self._waiters = [(n, f) for n, f in self._waiters if f is not fut]

    def _wake(self) -> None:
        for n, fut in self._waiters:
            if n <= self.delivered and not fut.done():
                fut.set_result(None)

    def queue(self, chosen: Sequence[Conn], frame: bytes, s: int) -> None:
        """Write ``frame`` to ``chosen`` at the end of this turn (``s`` 0: not an event)."""
        if not self.outbox:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outbox.append((chosen, frame, s))

    def flush(self) -> None:
        """Write what this turn queued: consecutive frames for the same recipients go out
        joined, one write per socket."""
        batches, self.outbox = self.outbox, []
        i, n = 0, len(batches)
        written = 0
        while i < n:
            chosen, first, lo = batches[i]
            j = i + 1
            while j < n and batches[j][0] is chosen:
                j += 1
            run = batches[i:j]
            payload = first if j == i + 1 else b"".join(f for _, f, _ in run)
            for c in chosen:
                ws = c.ws
                if ws.protocol.state is not OPEN:
                    continue
                if 0 < lo <= c.floor:
                    # a clustered state may deliver events a snapshot or replay covered
                    for _, f, s in run:
                        if s == 0 or s > c.floor:
                            ws.transport.write(f)
                else:
                    ws.transport.write(payload)
                if ws.paused:
                    c.check_output()
            written += len(chosen) * (j - i)  # counted per batch: the hot path stays lean
            i = j
        self.counts.deliveries += written

    def _takeover(self, data: dict[str, Any]) -> None:
        """Another socket resumed this session: close the old one without a grace period."""
        conn = self.conns.get(data["sid"])
        if conn is not None and conn.cid != data["cid"]:
            self.on_close(conn, CLOSE_REPLACED, "session resumed elsewhere")


def schedule_close(conn: Conn, code: int, reason: str) -> None:
    """Close a socket after what is already queued on it, from synchronous code."""
    conn.ended = True
    spawn(conn.ws.close(code, reason), name="close socket")
