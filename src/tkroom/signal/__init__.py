"""The WebSocket signalling server around the room rules (``tkroom.rooms``)."""

from tkroom.signal.server import SignalServer

__all__ = ["SignalServer"]
