"""The load generator's ear for the board: which measured message a member just received.

A stroke carries no timestamp (docs/board.md fixes its fields), so every measured message has
a key the teacher's side also knows (``segment:<shapeId>:<seq>``, ``shape:<shapeId>``,
``chat:<key>``); a member records ``(key, time.monotonic_ns())`` and the coordinator matches
it with the send time (CLOCK_MONOTONIC is system-wide, so one clock for every process).
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.signal.dialects import Tkroom

NAME = "bench.whiteboard.dialect:Board"  # how the worker processes find it


def message_key(frame: Any) -> str | None:
    """The measured message's key, or None for any other event."""
    if not isinstance(frame, dict):
        return None
    ev, data = frame.get("ev"), frame.get("data")
    if not isinstance(data, dict):
        return None
    if ev == "sendMessage":
        msg = data.get("message")
        return f"chat:{msg['key']}" if isinstance(msg, dict) and "key" in msg else None
    if ev != "pubMsg" or data.get("name") != "SharpsChange":
        return None
    d = data.get("data")
    if not isinstance(d, dict):
        return None
    if d.get("eventType") == "drawingEvent":
        return f"segment:{d.get('shapeId')}:{d.get('seq')}"
    if d.get("eventType") == "shapeSaveEvent":
        return f"shape:{d.get('shapeId')}"
    return None


class Board(Tkroom):
    """tkroom's protocol; while a measurement is armed, marks chats and board messages."""

    name = "tkroom-board"

    def _event(self, payload: bytes) -> None:
        c = self.c
        if c.target_marks < 0 or (b'"SharpsChange"' not in payload
                                  and b'"sendMessage"' not in payload):
            return
        now = time.monotonic_ns()
        key = message_key(json.loads(payload))
        if key is None:
            return
        c.marks.append((key, now))
        c.last_receipt = now / 1e9
        if len(c.marks) == c.target_marks:
            c.done.set()
