"""Helpers for SDK tests: a Room joined to a real signalling node, and event waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from signal_helpers import ticket
from tkroom.client import Event, Room


class Watched:
    """A Room plus every event it emitted, in order."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.seen: list[Event] = []
        room.on("*", self.seen.append)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.seen if e.type == name]

    async def wait(self, name: str, pred: Callable[[Event], bool] = lambda e: True,
                   wait: float = 10.0) -> Event:
        """The first event ``name`` matching ``pred`` (already seen or still to come)."""
        deadline = time.monotonic() + wait
        while True:
            for e in self.seen:
                if e.type == name and pred(e):
                    return e
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name}; saw {[e.type for e in self.seen][-10:]}")
            await asyncio.sleep(0.01)


async def join(url: str, serial: str, userid: str, role: int = 2,
               properties: dict[str, Any] | None = None, **opts: Any) -> Watched:
    """A Room joined through ``joinroomEx``; fresh tickets for every rejoin."""
    room = Room()
    room.init("test", **opts)
    w = Watched(room)

    async def fresh() -> str:
        return ticket(serial, userid, role)

    await room.joinroomEx(url, fresh, properties)
    return w
