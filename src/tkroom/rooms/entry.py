"""May this room be entered now? The one answer for ``checkroom``, ``entry``, login keys and
the signalling ``joinRoom``, as a pure function of the room's and its enterprise's state.

A join ticket outlives the ``checkroom`` that issued it, so the socket asks again: a room
deleted, over, or of an enterprise frozen meanwhile refuses the join with the code
``checkroom`` would answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from tkroom.errors import CodeError


@dataclass(frozen=True, slots=True)
class Enterprise:
    """What entering needs to know of a room's enterprise."""

    deleted: bool = False
    frozen: bool = False
    expires: float | None = None  # end of the service period, Unix seconds; None: no end


@dataclass(frozen=True, slots=True)
class Entry:
    """What entering needs to know of a room; ``enterprise`` None: not known (a directory
    without enterprises, as in tests of the signalling plane alone)."""

    deleted: bool = False
    endtime: float = 0  # Unix seconds; 0: no end
    enterprise: Enterprise | None = None


def check_enterprise(company: Enterprise, now: float) -> None:
    """Raise 4001 for a deleted enterprise, 3002 frozen, 3001 past its service period."""
    if company.deleted:
        raise CodeError(4001)
    if company.frozen:
        raise CodeError(3002)
    if company.expires is not None and company.expires < now:
        raise CodeError(3001, "The enterprise's service period has ended")


def check_entry(serial: str, room: Entry | None, now: float) -> None:
    """Raise the code refusing entry into ``serial`` at ``now``: 4007 no such room, 3003 deleted
    or over, then the enterprise's 4001 / 3002 / 3001."""
    if room is None:
        raise CodeError(4007, f"No room {serial}")
    if room.deleted or (room.endtime and room.endtime < now):
        raise CodeError(3003)
    if room.enterprise is not None:
        check_enterprise(room.enterprise, now)
