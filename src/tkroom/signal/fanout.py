"""Delivering a room's events to this node's connections: encode once, write to many.

The hot path of the whole platform: one ``json.dumps`` per event and one WebSocket frame built
from it (server frames are unmasked and we run without compression, so the bytes are the same
for every recipient, as Node's socket.io does), the recipients picked by matching the event's
``Target`` against each local connection, then the same bytes written to each transport — no
per-recipient task, queue, encoding or framing. Output per connection is bounded: a
connection whose write buffer grows past ``out_limit`` is dropped (its session survives the
grace period and resuming replays what it missed).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from tkroom.rooms.model import Event

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
                 "out_limit", "after_ack", "floor")

    def __init__(self, ws: ServerConnection, cid: str, out_limit: int) -> None:
        self.ws = ws
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

    @property
    def joined(self) -> bool:
        return bool(self.sid)

    def write(self, text: str) -> None:
        """Queue one message without waiting; drop the socket if it is too far behind."""
        self.write_frame(text_frame(text))

    def write_frame(self, frame: bytes) -> None:
        ws = self.ws
        if ws.protocol.state is OPEN:
            ws.transport.write(frame)
            if ws.paused:
                self.check_output()

    def check_output(self) -> None:
        ws = self.ws
        if ws.transport.get_write_buffer_size() > self.out_limit:
            log.info("dropping %s: %d bytes unsent", self.userid or self.cid,
                     ws.transport.get_write_buffer_size())
            ws.transport.abort()

    def flush_pending(self, after: int) -> None:
        """Send the events held while joining, those after ``after`` only, and go live."""
        held, self.pending = self.pending or [], None
        self.floor = after
        for s, frame in held:
            if s > after:
                self.write_frame(frame)


class LocalRoom:
    """This node's connections in one room, subscribed to the room's events in the state."""

    def __init__(self, serial: str, on_close: Callable[[Conn, int, str], None]) -> None:
        self.serial = serial
        self.conns: dict[str, Conn] = {}     # by session id
        self.on_close = on_close
        self.ready: asyncio.Future[None]     # done when the state delivers the room's events

    def on_event(self, event: Event) -> None:
        """The state's subscriber: route one stamped event to the local connections."""
        target = event.target
        kind = target.kind
        if kind == "none":
            if event.ev == "_takeover":
                self._takeover(event.data)
            return
        conns = self.conns.values()
        if kind == "all":
            chosen = list(conns)
        elif kind == "except_sender":
            sender = target.sender
            chosen = [c for c in conns if c.userid != sender]
        else:
            chosen = [c for c in conns if target.matches(c.userid, c.role, c.group, c.sid)]
        if event.ev == "setProperty" and "group" in event.data["properties"]:
            for c in conns:
                if c.userid == event.data["id"]:
                    c.group = event.data["properties"]["group"]
        if not chosen:
            return
        frame = text_frame(dumps(event.frame()))
        s = event.s
        for c in chosen:
            if c.pending is None:
                ws = c.ws
                # a clustered state may deliver an event after the snapshot that covered it
                if s > c.floor and ws.protocol.state is OPEN:
                    ws.transport.write(frame)
                    if ws.paused:
                        c.check_output()
            else:
                c.pending.append((s, frame))
        if event.ev == "participantEvicted" and kind == "session":
            for sid in target.ids:
                conn = self.conns.get(sid)
                if conn is not None:
                    self.on_close(conn, CLOSE_EVICTED, "evicted")

    def _takeover(self, data: dict[str, Any]) -> None:
        """Another socket resumed this session: close the old one without a grace period."""
        conn = self.conns.get(data["sid"])
        if conn is not None and conn.cid != data["cid"]:
            self.on_close(conn, CLOSE_REPLACED, "session resumed elsewhere")


def schedule_close(conn: Conn, code: int, reason: str) -> None:
    """Close a socket after what is already queued on it, from synchronous code."""
    conn.ended = True
    asyncio.get_running_loop().create_task(conn.ws.close(code, reason))
