"""A small in-memory RoomDirectory, a raw WebSocket test client and a server fixture helper."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets

from tkroom import tickets
from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.signal.server import SignalServer
from tkroom.state import open_state
from tkroom.state.memory import MemoryState
from tkroom.tickets import Identity

SECRET = b"test-secret-for-signal"


@dataclass
class MemoryDirectory:
    """Rooms, login keys, groups, chat and class-state calls kept in dicts for tests."""

    rooms: dict[str, RoomInfo] = field(default_factory=dict)
    loginkeys: dict[tuple[str, str], Identity] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    chats: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    classstates: list[tuple[str, int]] = field(default_factory=list)
    answers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    gifts: list[tuple[str, str, str, int]] = field(default_factory=list)  # serial, sender, receiver, ms
    logins: list[dict[str, Any]] = field(default_factory=list)  # login_events' records, in order
    group_delay: float = 0.0

    async def room(self, serial: str) -> RoomInfo | None:
        return self.rooms.get(serial)

    async def verify_login_key(self, serial: str, loginkey: str, now: float) -> Identity:
        if not loginkey:
            raise CodeError(5300)           # as the real directory: none given
        ident = self.loginkeys.get((serial, loginkey))
        if ident is None:
            raise CodeError(5301)
        return ident

    async def group_exists(self, serial: str, groupid: str) -> bool:
        if self.group_delay:
            await asyncio.sleep(self.group_delay)
        return groupid in self.groups.get(serial, set())

    async def save_chat(self, serial: str, message: dict[str, Any]) -> None:
        self.chats.append((serial, message))

    async def class_state(self, serial: str, classstate: int, ts: float) -> None:
        self.classstates.append((serial, classstate))

    async def save_answers(self, serial: str, qid: str, question: dict[str, Any], answers: dict[str, list[int]], closed_ms: int) -> None:
        self.answers[(serial, qid)] = {"question": question, "answers": answers, "closed_ms": closed_ms}

    async def add_gift(self, serial: str, sender: str, receivers: list[str], ts_ms: int) -> None:
        self.gifts.extend((serial, sender, r, ts_ms) for r in receivers)

    async def login_events(self, records: list[dict[str, Any]]) -> None:
        self.logins.extend(dict(r) for r in records)


def ticket(serial: str, userid: str, role: int = 2, nickname: str = "", secret: bytes = SECRET,
           now: float | None = None) -> str:
    ident = Identity(serial, userid, role, nickname or userid.upper())
    return tickets.issue(secret, ident, time.time() if now is None else now)


class Client:
    """A raw protocol client: requests with acks, and the events in arrival order."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.acks: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.null_acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.events: list[dict[str, Any]] = []
        self.new_event = asyncio.Event()
        self.closed = asyncio.Event()
        self.last_s = 0
        self.order: list[tuple[str, Any]] = []        # ("ack", id) / ("ev", name) as they came
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, url: str) -> Client:
        return cls(await websockets.connect(url, max_size=2**22, compression=None))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.order.append(("ack", frame["ack"]) if "ack" in frame else ("ev", frame["ev"]))
                if "ack" in frame:
                    fut = self.acks.pop(frame["ack"], None)
                    if fut is not None:
                        fut.set_result(frame)
                    else:
                        self.null_acks.put_nowait(frame)
                else:
                    if "s" in frame:
                        assert frame["s"] > self.last_s, (frame, self.last_s)
                        self.last_s = frame["s"]
                    self.events.append(frame)
                    self.new_event.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def send_raw(self, raw: str | bytes) -> None:
        await self.ws.send(raw)

    async def req(self, ev: str, data: Any = None, wait: float = 10.0) -> dict[str, Any]:
        """Send a request and return its ack frame (``code``, ``data`` or ``msg``)."""
        self.next_id += 1
        rid = self.next_id
        fut = asyncio.get_running_loop().create_future()
        self.acks[rid] = fut
        await self.ws.send(json.dumps({"id": rid, "ev": ev, "data": {} if data is None else data}))
        return await asyncio.wait_for(fut, wait)

    async def ok(self, ev: str, data: Any = None) -> dict[str, Any]:
        ack = await self.req(ev, data)
        assert ack["code"] == 0, ack
        return ack["data"]

    async def join(self, tk: str, **extra: Any) -> dict[str, Any]:
        data = await self.ok("joinRoom", {"ticket": tk, **extra})
        self.last_s = data["s"]
        self.session = data["session"]
        return data

    async def wait_for(self, pred: Any, wait: float = 10.0) -> dict[str, Any]:
        """The first event (from the start) matching ``pred``; waits for it to arrive."""
        deadline = time.monotonic() + wait
        seen = 0
        while True:
            for e in self.events[seen:]:
                if pred(e):
                    return e
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching event; got {self.events[-5:]}")
            self.new_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.new_event.wait(), left)

    async def event(self, ev: str, wait: float = 10.0, **match: Any) -> dict[str, Any]:
        return await self.wait_for(
            lambda e: e["ev"] == ev and all(e["data"].get(k) == v for k, v in match.items()),
            wait)

    def named(self, ev: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["ev"] == ev]

    async def close(self) -> None:
        """Close politely; a peer that does not answer within seconds is cut off."""
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except TimeoutError:
            print(f"client close timed out; state {self.ws.state}", file=sys.stderr)
            self.ws.transport.abort()
        await asyncio.wait_for(self.reader, 10)


async def start_server(directory: MemoryDirectory, *, state_url: str | None = None,
                       **kw: Any) -> SignalServer:
    """A server on a free port over memory state, or over Redis at ``state_url``."""
    window = kw.pop("window", 4096)
    if state_url is None:
        state = MemoryState(window=window)
    else:
        state = open_state(state_url, window=window, prefix=f"t{secrets.token_hex(4)}",
                           grace=kw.get("grace", 15.0))
    await state.start()
    server = SignalServer("127.0.0.1", 0, directory, state, SECRET, **kw)
    await server.start()
    return server


async def stop_server(server: SignalServer) -> None:
    """Stop the server and its state; if that hangs, show every task's stack and fail."""
    try:
        await asyncio.wait_for(server.stop(), 15)
        await asyncio.wait_for(server.state.stop(), 15)
    except TimeoutError:
        for t in asyncio.all_tasks():
            t.print_stack(file=sys.stderr)
        raise


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture):
    """A test importing this fails when the server logged an error (a failure a user hits), or
    the signalling plane warned (e.g. an ack that had to wait for its own events in vain)."""
    yield
    errors = [r for r in caplog.get_records("call") + caplog.get_records("teardown")
              if r.name.startswith("tkroom") and (r.levelno >= logging.ERROR or (
                  r.levelno >= logging.WARNING and r.name.startswith("tkroom.signal")))]
    assert not errors, [r.getMessage() for r in errors]
