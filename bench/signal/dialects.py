"""How the load generator speaks to each server: tkroom's JSON frames or socket.io's packets.

The per-frame path is kept to byte searches; JSON is decoded only for acks (rare) and for the
send timestamp of chat messages (the latency measurement).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from bench.signal.rawws import RawWS

T0 = re.compile(rb'"t0":\s*(\d+)')


@dataclass
class Counters:
    """What one worker process has received, shared by all its connections."""

    chat_latencies_ms: list[float] = field(default_factory=list)
    pub_count: int = 0
    last_receipt: float = 0.0
    target_pub: int = -1
    target_chat: int = -1
    # receipts of keyed messages, (key, time.monotonic_ns()), for a dialect that matches them
    # with the sender's own send times (bench.whiteboard: a stroke carries no timestamp)
    marks: list[tuple[str, int]] = field(default_factory=list)
    target_marks: int = -1
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        if (0 <= self.target_pub <= self.pub_count) or (
            0 <= self.target_chat <= len(self.chat_latencies_ms)
        ):
            self.done.set()


class Conn:
    """Per-connection state: requests in flight, keyed by id."""

    __slots__ = ("ids", "pending", "opened")

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.opened: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


def _st(ws: RawWS) -> Conn:
    """The connection's state, made on first use (socket.io's open packet may come first)."""
    if ws.state is None:
        ws.state = Conn()
    return ws.state  # type: ignore[return-value]


class Dialect:
    """One wire protocol: how to join, send a request, and recognise the two broadcast kinds."""

    name = ""
    path = ""

    def __init__(self, counters: Counters) -> None:
        self.c = counters

    async def join(self, ws: RawWS, credential: dict[str, Any]) -> None:
        raise NotImplementedError

    def request(self, ws: RawWS, ev: str, data: dict[str, Any]) -> asyncio.Future[Any]:
        raise NotImplementedError

    def on_text(self, ws: RawWS, payload: bytes) -> None:
        raise NotImplementedError

    def _event(self, payload: bytes) -> None:
        c = self.c
        if b'"pubMsg"' in payload:
            c.pub_count += 1
            c.last_receipt = time.monotonic()
            if c.pub_count == c.target_pub:
                c.done.set()
        elif b'"sendMessage"' in payload:
            now = time.monotonic_ns()
            m = T0.search(payload)
            if m:
                c.chat_latencies_ms.append((now - int(m.group(1))) / 1e6)
                c.last_receipt = now / 1e9
                if len(c.chat_latencies_ms) == c.target_chat:
                    c.done.set()


class Tkroom(Dialect):
    """tkroom's protocol (docs/protocol.md): ``{"id","ev","data"}`` requests, ``{"ack",...}``."""

    name = "tkroom"
    path = "/signal"

    async def join(self, ws: RawWS, credential: dict[str, Any]) -> None:
        ack = await self.request(ws, "joinRoom", credential)
        if ack.get("code") != 0:
            raise RuntimeError(f"joinRoom answered {ack.get('code')}: {ack.get('msg')}")

    def request(self, ws: RawWS, ev: str, data: dict[str, Any]) -> asyncio.Future[Any]:
        st = _st(ws)
        rid = next(st.ids)
        fut = asyncio.get_running_loop().create_future()
        st.pending[rid] = fut
        ws.send_text(json.dumps({"id": rid, "ev": ev, "data": data}).encode())
        return fut

    def on_text(self, ws: RawWS, payload: bytes) -> None:
        st = _st(ws)
        if st.pending and b'"ack"' in payload:
            frame = json.loads(payload)
            if "ack" in frame:
                fut = st.pending.pop(frame["ack"], None)
                if fut is not None and not fut.done():
                    fut.set_result(frame)
                return
        self._event(payload)


class SocketIO(Dialect):
    """socket.io 4 over engine.io 4 on a websocket: ``42["ev",data]``, acks ``43<id>[...]``."""

    name = "socket.io"
    path = "/socket.io/?EIO=4&transport=websocket"

    async def join(self, ws: RawWS, credential: dict[str, Any]) -> None:
        st = _st(ws)
        await st.opened
        ack = await self.request(ws, "joinRoom", credential)
        if ack[0] != 0:
            raise RuntimeError(f"joinRoom answered {ack}")

    def request(self, ws: RawWS, ev: str, data: dict[str, Any]) -> asyncio.Future[Any]:
        st = _st(ws)
        rid = next(st.ids)
        fut = asyncio.get_running_loop().create_future()
        st.pending[rid] = fut
        ws.send_text(b"42%d" % rid + json.dumps([ev, data]).encode())
        return fut

    def on_text(self, ws: RawWS, payload: bytes) -> None:
        if payload.startswith(b"42"):
            self._event(payload)
            return
        st = _st(ws)
        if payload == b"2":
            ws.send_text(b"3")
        elif payload.startswith(b"43"):
            i = payload.index(b"[")
            fut = st.pending.pop(int(payload[2:i]), None)
            if fut is not None and not fut.done():
                fut.set_result(json.loads(payload[i:]))
        elif payload.startswith(b"0{"):
            ws.send_text(b"40")
        elif payload.startswith(b"40") and not st.opened.done():
            st.opened.set_result(None)


DIALECTS: dict[str, type[Dialect]] = {"tkroom": Tkroom, "socket.io": SocketIO}


def dialect_class(name: str) -> type[Dialect]:
    """A dialect by its short name, or by ``module:Class`` for one defined elsewhere (the
    worker processes are spawned, so they import it themselves)."""
    if ":" not in name:
        return DIALECTS[name]
    import importlib

    module, attr = name.split(":", 1)
    cls: type[Dialect] = getattr(importlib.import_module(module), attr)
    return cls
