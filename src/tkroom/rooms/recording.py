"""The class's recording lease: which node of a cluster writes a recording's event log and
ends it. Pure (time is an argument); the memory state applies it as is, the Redis state as one
Lua script with the same results (``tests/test_state_recording.py`` checks both)."""

from __future__ import annotations

from typing import Any

# How long a holder's lease lasts, and how often the holder renews it: a dead holder's
# recording is taken over by another node within about LEASE_MS.
LEASE_MS = 5000
RENEW_MS = 1000


def claim(cur: dict[str, Any] | None, node: str, now_ms: int, ttl_ms: int,
          new_id: str) -> tuple[dict[str, Any] | None, bool]:
    """The record after ``node`` claims it, and whether ``node`` became the holder now: none
    yet makes one with ``new_id`` (segment 1, started now; an empty ``new_id`` makes none: a
    claim only to take over); a lapsed lease goes to ``node`` (the next segment, the same id
    and start, ``previous`` naming the holder it replaced); a live one is left as it is."""
    if cur is None:
        if not new_id:
            return None, False
        return {"id": new_id, "started_ms": now_ms, "holder": node, "segment": 1,
                "lease_until": now_ms + ttl_ms, "previous": ""}, True
    if int(cur["lease_until"]) < now_ms and cur["holder"] != node:
        return {**cur, "holder": node, "segment": int(cur["segment"]) + 1,
                "lease_until": now_ms + ttl_ms, "previous": cur["holder"]}, True
    return dict(cur), False
