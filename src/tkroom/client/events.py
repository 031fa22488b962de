"""Room events, delivered both to callbacks (``room.on``) and to async iterators (``room.events``).

Event names are the original TKRoomSDK's (``room-connected``, ``room-pubmsg``, ...), so code
written against the JavaScript SDK reads the same here.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tkroom.tasks import spawn

log = logging.getLogger(__name__)

ROOM_CONNECTED = "room-connected"
ROOM_CONNECT_FAIL = "room-connect-fail"
ROOM_DISCONNECTED = "room-disconnected"
ROOM_RECONNECTING = "room-reconnecting"
ROOM_RECONNECTED = "room-reconnected"
ROOM_LEAVEROOM = "room-leaveroom"
PARTICIPANT_JOIN = "room-participant_join"
PARTICIPANT_LEAVE = "room-participant_leave"
PARTICIPANT_EVICTED = "room-participant_evicted"
TEXT_MESSAGE = "room-text-message"
PUBMSG = "room-pubmsg"
DELMSG = "room-delmsg"
MSGLIST = "room-msglist"
USERPROPERTY_CHANGED = "room-userproperty-changed"
MODE_CHANGED = "room-mode-changed"
ERROR_NOTICE = "room-error-notice"
WARN_NOTICE = "room-warn-notice"
INFO_NOTICE = "room-info-notice"
# the board (docs/board.md), from the saved messages and pubMsg/delMsg: see client/board.py
BOARD_PAGE = "board-page"
BOARD_SHAPE = "board-shape"
BOARD_ERASE = "board-erase"
BOARD_CLEAR = "board-clear"
BOARD_SEGMENT = "board-segment"
BOARD_LASER = "board-laser"
BOARD_DOCUMENT = "board-document"
# the classroom tools (docs/tools.md), from their messages: see client/tools.py
TOOLS_QUESTION = "tools-question"
TOOLS_COUNT = "tools-count"
TOOLS_RESULT = "tools-result"
TOOLS_BUZZER = "tools-buzzer"
TOOLS_WINNER = "tools-winner"
TOOLS_TIMER = "tools-timer"
TOOLS_DIAL = "tools-dial"
TOOLS_GIFT = "tools-gift"

ALL_EVENTS = (
    ROOM_CONNECTED, ROOM_CONNECT_FAIL, ROOM_DISCONNECTED, ROOM_RECONNECTING, ROOM_RECONNECTED,
    ROOM_LEAVEROOM, PARTICIPANT_JOIN, PARTICIPANT_LEAVE, PARTICIPANT_EVICTED, TEXT_MESSAGE,
    PUBMSG, DELMSG, MSGLIST, USERPROPERTY_CHANGED, MODE_CHANGED, ERROR_NOTICE, WARN_NOTICE,
    INFO_NOTICE, BOARD_PAGE, BOARD_SHAPE, BOARD_ERASE, BOARD_CLEAR, BOARD_SEGMENT, BOARD_LASER,
    BOARD_DOCUMENT, TOOLS_QUESTION, TOOLS_COUNT, TOOLS_RESULT, TOOLS_BUZZER, TOOLS_WINNER,
    TOOLS_TIMER, TOOLS_DIAL, TOOLS_GIFT,
)

# After these the room is out of the class for good; iterators stop after yielding them.
TERMINAL = frozenset({ROOM_LEAVEROOM, ROOM_DISCONNECTED})

Callback = Callable[["Event"], Any] | Callable[["Event"], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Event:
    """One room event: ``type`` is the original SDK's event name, ``message`` its payload."""

    type: str
    message: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.type

    def __getitem__(self, key: str) -> Any:
        return self.message[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.message.get(key, default)


class EventBus:
    """Fans each event out to the callbacks registered for it and to every open iterator.

    A callback that raises is logged and does not stop the others; an async callback runs as a
    task so that a slow handler never holds up the socket reader.
    """

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callback]] = {}
        self._queues: list[tuple[asyncio.Queue[Event], frozenset[str] | None]] = []

    def on(self, name: str, callback: Callback) -> None:
        """Call ``callback(event)`` for every event named ``name`` (``"*"``: every event)."""
        self._callbacks.setdefault(name, []).append(callback)

    def off(self, name: str, callback: Callback | None = None) -> None:
        """Forget one callback of ``name``, or all of them when ``callback`` is None."""
        if callback is None:
            self._callbacks.pop(name, None)
        elif callback in self._callbacks.get(name, []):
            self._callbacks[name].remove(callback)

    def emit(self, name: str, message: dict[str, Any] | None = None) -> Event:
        """Deliver one event now (callbacks run before this returns, async ones are started)."""
        ev = Event(name, message if message is not None else {})
        for cb in [*self._callbacks.get(name, ()), *self._callbacks.get("*", ())]:
            try:
                res = cb(ev)
                if inspect.isawaitable(res):
                    spawn(_awaited(res), name=f"callback for {name}")
            except Exception:
                log.exception("callback for %s failed", name)
        for q, names in self._queues:
            if names is None or name in names or name in TERMINAL:
                q.put_nowait(ev)
        return ev

    def iterate(self, names: frozenset[str] | None) -> Subscription:
        """An iterator over events (only ``names`` when given), subscribed from this call on."""
        return Subscription(self, names)


async def _awaited(aw: Awaitable[Any]) -> Any:
    return await aw


class Subscription:
    """``async for ev in room.events()``: queued from creation, ends when the room is left.

    It subscribes when created, not when first awaited, so ``it = room.events()`` before
    ``joinroom`` sees ``room-connected``.
    """

    def __init__(self, bus: EventBus, names: frozenset[str] | None) -> None:
        self._bus = bus
        self._names = names
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._entry = (self._queue, names)
        self._ended = False
        bus._queues.append(self._entry)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._ended:
            ev = await self._queue.get()
            if ev.type in TERMINAL:
                self.close()
                if self._names is None or ev.type in self._names:
                    return ev
                break
            if self._names is None or ev.type in self._names:
                return ev
        raise StopAsyncIteration

    def close(self) -> None:
        """Stop receiving (also done after the terminal event)."""
        self._ended = True
        if self._entry in self._bus._queues:
            self._bus._queues.remove(self._entry)
