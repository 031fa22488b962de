"""Room runtime state behind one interface (``RoomState``): memory now, Redis for clusters."""

from tkroom.state.base import RoomState, Session

__all__ = ["RoomState", "Session"]
