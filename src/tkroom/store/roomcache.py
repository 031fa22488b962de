"""A short-lived in-process cache of rooms and their enterprises for the entry hot path.

When a class starts, every student calls ``checkroom`` (and then ``joinRoom``) within seconds;
reading the same room and enterprise rows from the database each time is most of that work.
Rows are kept for ``ttl_s`` seconds. Changes made through this node's WebAPI invalidate them at
once and again after their commit (``webapi.registry.Call.uncache``); changes made elsewhere
(another node, ``tkroom admin``) are seen after at most ``ttl_s``. A reader takes a ``mark()``
before it reads the database and hands it to ``put``: a row read before an invalidation is not
cached after it (it may be the old one).
"""

from __future__ import annotations

import time

from tkroom.store.models import Company, Room


class RoomCache:
    def __init__(self, ttl_s: float = 2.0, size: int = 50_000):
        self.ttl_s = ttl_s
        self.size = size
        self._rows: dict[str, tuple[float, Room, Company]] = {}
        self._epoch = 0           # bumped by every invalidation

    def mark(self) -> int:
        """Taken before reading the rows that will be ``put``."""
        return self._epoch

    def get(self, serial: str) -> tuple[Room, Company] | None:
        hit = self._rows.get(serial)
        if hit is None:
            return None
        if time.monotonic() - hit[0] > self.ttl_s:
            del self._rows[serial]
            return None
        return hit[1], hit[2]

    def put(self, room: Room, company: Company, mark: int) -> None:
        """Cache rows read since ``mark``, unless something was invalidated meanwhile."""
        if self.ttl_s <= 0 or mark != self._epoch:
            return
        if len(self._rows) >= self.size:
            self._rows.clear()
        self._rows[room.serial] = (time.monotonic(), room, company)

    def invalidate(self, serial: str) -> None:
        self._epoch += 1
        self._rows.pop(serial, None)

    def clear(self) -> None:
        self._epoch += 1
        self._rows.clear()
