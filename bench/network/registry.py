"""The measurements of ``bench.network``: each module registers its functions here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Run = Callable[[Any, int], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Measurement:
    """``run(env, tries)`` returns table rows: each a dict with ``row`` (its name), the
    figures, and optionally ``floor`` (text) and ``floor_met`` (bool)."""

    name: str
    order: int
    run: Run


MEASUREMENTS: list[Measurement] = []


def measurement(name: str, order: int = 100) -> Callable[[Run], Run]:
    """Register ``run`` under ``name``; lower ``order`` runs (and prints) first."""
    def register(run: Run) -> Run:
        MEASUREMENTS.append(Measurement(name, order, run))
        return run
    return register
