"""The load generator's ear for the board: which measured message a member just received.

A stroke carries no timestamp (docs/board.md fixes its fields), so every measured message has
a key the teacher's side also knows (``segment:<shapeId>:<seq>``, ``shape:<shapeId>``,
``chat:<key>``); a member records ``(key, time.monotonic_ns())`` and the coordinator matches
it with the send time (CLOCK_MONOTONIC is system-wide, so one clock for every process).
The key is found with byte searches (a thousand members receive tens of thousands of frames a
second on one core: decoding each costs 7 µs, searching 1); only a frame the searches cannot
read unambiguously is decoded.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from bench.signal.dialects import Tkroom

NAME = "bench.whiteboard.dialect:Board"  # how the worker processes find it
SHAPE_ID = re.compile(rb'"shapeId":\s*"([A-Za-z0-9-]*)"')
SEQ = re.compile(rb'"seq":\s*(\d+)')
CHAT_KEY = re.compile(rb'"key":\s*"([A-Za-z0-9-]*)"')


def fast_key(payload: bytes) -> str | None:
    """``message_key`` by byte searches, or None when they cannot tell (then decode)."""
    if b'"SharpsChange"' in payload:
        ids = SHAPE_ID.findall(payload)
        if len(ids) != 1:
            return None
        if b'"shapeSaveEvent"' in payload:
            return f"shape:{ids[0].decode()}"
        seqs = SEQ.findall(payload)  # an unsaved message's only seq is the segment's
        if b'"drawingEvent"' in payload and len(seqs) == 1:
            return f"segment:{ids[0].decode()}:{int(seqs[0])}"
        return None
    keys = CHAT_KEY.findall(payload)
    return f"chat:{keys[0].decode()}" if len(keys) == 1 else None


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
    """tkroom's protocol; while a measurement is armed, marks chats and board messages
    (otherwise ``bench.signal``'s own counting: timestamped chats, pubMsgs)."""

    name = "tkroom-board"

    def _event(self, payload: bytes) -> None:
        c = self.c
        if c.target_marks < 0:
            super()._event(payload)
            return
        if b'"SharpsChange"' not in payload and b'"sendMessage"' not in payload:
            return
        now = time.monotonic_ns()
        key = fast_key(payload) or message_key(json.loads(payload))
        if key is None:
            return
        c.marks.append((key, now))
        c.last_receipt = now / 1e9
        if len(c.marks) == c.target_marks:
            c.done.set()
