"""Room runtime state behind one interface (``RoomState``): memory now, Redis for clusters."""

from __future__ import annotations

from typing import Any

from tkroom.state.base import RoomState, Session

__all__ = ["RoomState", "Session", "open_state"]


def open_state(url: str | None = None, **options: Any) -> RoomState:
    """The state a node runs on: in memory without ``url``, else shared in Redis at ``url``
    (``redis://host:port/db``, ``rediss://``, ``unix:///path``, or
    ``redis+sentinel://host:port[,host:port]/service[/db]`` for the primary Sentinel names). ``options`` go to the
    backend (``window``; for Redis also ``prefix``, ``node``, ``grace``, ``heartbeat``).
    The caller still awaits ``start()``."""
    if url is None:
        from tkroom.state.memory import MemoryState
        return MemoryState(window=options.get("window", 4096))
    from tkroom.state.redis import RedisState
    return RedisState(url, **options)
