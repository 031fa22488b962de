"""``ApiState``: what every Web API handler shares (settings, secret, sessions, the password
cache, the throttle, the room cache). Its own module so that the method registry and the
application both import it, and neither imports the other."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.config import Settings
from tkroom.iceservers import TurnOffer
from tkroom.metrics import NodeMetrics
from tkroom.passwords import PasswordChecker
from tkroom.storage import Storage, open_storage
from tkroom.store.roomcache import RoomCache
from tkroom.webapi.throttle import Throttle

if TYPE_CHECKING:
    from tkroom.webapi.shared import Shared


@dataclass
class ApiState:
    """What handlers share: settings, secret, sessions, the password cache, the throttle."""

    settings: Settings
    secret: bytes
    sessions: async_sessionmaker
    checker: PasswordChecker
    throttle: Throttle
    rooms: RoomCache = field(default_factory=RoomCache)
    extra: dict[str, Any] = field(default_factory=dict)
    # The node's id (``Settings.node_id``): uploads record it (on a storage of the node's own,
    # only that node converts them).
    node_id: str = ""
    # Called once a document was queued for conversion (the courseware plane sets it).
    wake_converter: Callable[[], None] = lambda: None
    # The node's metrics (requests by method and result, latency); None: not counted.
    metrics: NodeMetrics | None = None
    # The cluster's Redis for the throttle and verified passwords (``webapi.shared``); None: memory.
    shared: Shared | None = None
    # Who is in a room now, from the room state every node shares (the signalling plane sets
    # it): dicts with ``userid``, ``role``, ``nickname``, ``joined_ms``. None: no signalling.
    online: Callable[[str], Awaitable[list[dict[str, Any]]]] | None = None
    # TURN servers and the secret to sign their credentials (the TURN plane sets it); None:
    # no ``iceServers`` are handed out.
    turn: TurnOffer | None = None
    # Where files and recordings' outputs live (the node's, started with it); unset: the
    # settings' storage, built here (what tests that make an ApiState alone get).
    storage: Storage = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.storage is None:
            self.storage = open_storage(self.settings)
