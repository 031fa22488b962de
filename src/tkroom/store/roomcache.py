"""A short-lived in-process cache of rooms and their enterprises for the entry hot path.

When a class starts, every student calls ``checkroom`` (and then ``joinRoom``) within seconds;
reading the same room and enterprise rows from the database each time is most of that work.
Rows are kept for ``ttl_s`` seconds. Changes made through this node's WebAPI invalidate them at
once; changes made elsewhere (another node, ``tkroom admin``) are seen after at most ``ttl_s``.
"""

from __future__ import annotations

import time

from tkroom.store.models import Company, Room


class RoomCache:
    def __init__(self, ttl_s: float = 2.0, size: int = 50_000):
        self.ttl_s = ttl_s
        self.size = size
        self._rows: dict[str, tuple[float, Room, Company]] = {}

    def get(self, serial: str) -> tuple[Room, Company] | None:
        hit = self._rows.get(serial)
        if hit is None:
            return None
        if time.monotonic() - hit[0] > self.ttl_s:
            del self._rows[serial]
            return None
        return hit[1], hit[2]

    def put(self, room: Room, company: Company) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._rows) >= self.size:
            self._rows.clear()
        self._rows[room.serial] = (time.monotonic(), room, company)

    def invalidate(self, serial: str) -> None:
        self._rows.pop(serial, None)

    def clear(self) -> None:
        self._rows.clear()
