"""Simulcast layers: which a room publishes and which a subscriber gets (pure rules, no I/O).

A simulcast camera arrives at Janus as three encodings of one picture (``rid`` h, m, l: full,
half and quarter resolution, as Janus's own janus.js sends them). Janus VideoRoom forwards one of them to each subscriber
(``substream`` 0, 1, 2); which one is decided here: the subscriber's preference (a large tile
wants ``high``, a thumbnail ``low``) capped by what its link carried lately. Janus reports a
subscriber that keeps losing packets with a ``slow_link`` event (``slowlink_threshold`` lost
packets a second); each moves the subscription one layer down, and after a quiet while it is
tried one layer up again, waiting longer after each try that failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tkroom.directory import RoomInfo
from tkroom.errors import CodeError

LAYERS = ("low", "medium", "high")
"""Layer names, by Janus ``substream`` number."""

SimulcastMode = Literal["auto", "on", "off"]

ERR_BAD_PARAMETERS = 103


def simulcast_for(room: RoomInfo, mode: SimulcastMode, stream_type: str) -> bool:
    """Whether a publication of ``stream_type`` in ``room`` is sent as three layers.

    Only cameras: a screen keeps one full-resolution encoding (text stays readable, the frame
    rate gives way). ``auto`` (the default) simulcasts rooms whose video profile is 640x480
    or larger (``videotype`` >= 2): the quarter layer of a smaller picture is too small to
    be worth its bits.
    """
    if stream_type != "video" or mode == "off":
        return False
    return mode == "on" or room.videotype >= 2


def layer_number(name: object) -> int:
    """``high``/``medium``/``low`` (or 2/1/0) as Janus's substream number; 103 otherwise."""
    if isinstance(name, str) and name in LAYERS:
        return LAYERS.index(name)
    if isinstance(name, int) and not isinstance(name, bool) and 0 <= name <= 2:
        return name
    raise CodeError(ERR_BAD_PARAMETERS, f"layer must be one of {', '.join(LAYERS)}",
                    namespace="error_notice")


@dataclass(frozen=True, slots=True)
class Tuning:
    """How quickly a subscription steps down and tries to come back up (seconds)."""

    settle: float = 2.0       # slow_link events this soon after a change are about the old layer
    probe_first: float = 8.0  # quiet time before the first try one layer up
    probe_max: float = 60.0   # the longest wait between tries that keep failing
    probe_window: float = 6.0  # a slow_link this soon after stepping up: the try failed


@dataclass
class LayerControl:
    """One subscription's layer: ``preferred`` (asked by the client) capped by ``cap`` (what
    the link carried). ``now`` is passed in by the caller: no clock here."""

    preferred: int = 2
    cap: int = 2
    tuning: Tuning = Tuning()
    changed_at: float = float("-inf")
    probe_wait: float = 0.0
    probed_at: float | None = None

    def __post_init__(self) -> None:
        self.probe_wait = self.tuning.probe_first

    @property
    def current(self) -> int:
        """The substream Janus should forward."""
        return min(self.preferred, self.cap)

    def prefer(self, layer: int) -> int:
        """The client asked for ``layer``; the substream to use now."""
        self.preferred = layer
        return self.current

    def slow_link(self, now: float) -> int | None:
        """Janus reported losses: the lower substream to switch to, or None (already the
        lowest, or the report is about the layer just left)."""
        if now - self.changed_at < self.tuning.settle:
            return None
        if self.probed_at is not None and now - self.probed_at < self.tuning.probe_window:
            self.probe_wait = min(self.probe_wait * 2, self.tuning.probe_max)
        elif self.probed_at is None:
            self.probe_wait = self.tuning.probe_first
        self.probed_at = None
        if self.current == 0:
            self.changed_at = now
            return None
        self.cap = self.current - 1
        self.changed_at = now
        return self.current

    def next_probe(self) -> float | None:
        """Seconds after the last change when a try one layer up is due (None: not capped)."""
        return self.probe_wait if self.cap < self.preferred else None

    def probe(self, now: float) -> int | None:
        """Time for a try one layer up: the substream to switch to, or None (nothing to try,
        or it is not time yet)."""
        if self.cap >= self.preferred or now - self.changed_at < self.probe_wait:
            return None
        if self.probed_at is not None:  # the last try held through its window: no backoff
            self.probe_wait = self.tuning.probe_first
        self.cap += 1
        self.changed_at = now
        self.probed_at = now
        return self.current
