"""Where a class's media lives in a cluster: pure decisions, no Janus, no Redis.

Every node sees the same media servers; the class's server and VideoRoom are one record in the
shared room state (``RoomState.claim_media_room``). These functions decide what a node
proposes (which server), whether the record it finds is usable from here or must be moved,
and which servers an enterprise's class may use. The state decides who wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol


class ServerView(Protocol):
    """What placement reads of a media server."""

    @property
    def id(self) -> str: ...
    @property
    def healthy(self) -> bool: ...
    @property
    def free(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def owner(self) -> int | None: ...


def may_carry(server: ServerView, enterprise: int | None) -> bool:
    """A server registered by an enterprise (``owner``) carries only that enterprise's
    classes; the operator's servers (``--janus``, the embedded one: no owner) carry anyone's."""
    return server.owner is None or server.owner == enterprise


def choose_server(servers: Iterable[ServerView], enterprise: int | None, *, need: int = 1,
                  exclude: Iterable[str] = ()) -> ServerView | None:
    """The server a new (or moved) class goes to: a healthy one it may use with ``need`` free
    places, the enterprise's own before the operator's, the least loaded (by share of its
    capacity) among those; None when there is none."""
    skip = set(exclude)
    fit = [s for s in servers if s.healthy and s.id not in skip and s.free >= need
           and may_carry(s, enterprise)]
    if not fit:
        return None
    return max(fit, key=lambda s: (s.owner is not None, s.free / max(s.capacity, 1), s.free))


def usable(record: dict[str, Any] | None, servers: Mapping[str, ServerView]) -> bool:
    """Whether this node can broker into the recorded room now: it knows the server and
    finds it healthy."""
    if record is None:
        return False
    server = servers.get(str(record.get("server")))
    return server is not None and server.healthy


def must_move(record: dict[str, Any], servers: Mapping[str, ServerView],
              enterprise: int | None) -> bool:
    """A recorded room is moved when its server is gone or down from here, or no longer
    carries this enterprise's classes (the registry changed), and another server could take
    it. Otherwise the class waits for its server (or for one to appear)."""
    if usable(record, servers) and may_carry(servers[str(record["server"])], enterprise):
        return False
    return choose_server(servers.values(), enterprise, exclude=(str(record["server"]),)) \
        is not None


def is_current(record: dict[str, Any] | None, server_id: str | None, room_id: str | None) -> bool:
    """Whether this node's VideoRoom is the one the shared record names (else it follows)."""
    return record is not None and record.get("server") == server_id and \
        record.get("room") == room_id


SIMULCAST, SINGLE = "s", "1"


def feed_display(stream_id: str, simulcast: bool, node: str = "") -> str:
    """The ``display`` name the node gives a publisher's Janus feed: its stream id, tagged with
    whether it sends simulcast layers, so a node subscribing to another node's feed knows
    whether it may choose a layer (Janus's participant list says neither), and with the
    ``node`` that brokers it (the room state's name of it), so that the survivors of a dead
    node find its feeds: ``s|<stream>`` / ``1|<stream>`` without a node, ``s@<node>|<stream>``
    with one."""
    kind = SIMULCAST if simulcast else SINGLE
    return f"{kind}@{node}|{stream_id}" if node else f"{kind}|{stream_id}"


def _tagged(display: str) -> tuple[str, bool, str] | None:
    """``(node, simulcast, stream id)`` of a ``feed_display``; None for a display not ours."""
    kind, mark = display[:1], display[1:2]
    if kind not in (SIMULCAST, SINGLE):
        return None
    if mark == "|":
        return "", kind == SIMULCAST, display[2:]
    node, sep, body = display[2:].partition("|")
    if mark != "@" or not sep or not node:
        return None
    return node, kind == SIMULCAST, body


def stream_of(display: str) -> tuple[str, str, str, bool] | None:
    """A publisher's stream (user id, type, device) and whether it sends simulcast layers,
    from the feed's ``display`` (``feed_display``; a user id may itself hold colons)."""
    tagged = _tagged(display)
    if tagged is None:
        return None
    parts = tagged[2].rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2], tagged[1]


def node_of(display: str) -> str:
    """The node that brokers a feed, from its ``display`` ("" when it does not say)."""
    tagged = _tagged(display)
    return tagged[0] if tagged is not None else ""
