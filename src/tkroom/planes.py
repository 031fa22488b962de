"""Every plane wired into one node, the way ``tkroom serve`` runs it.

``tkroom.node.Node`` is the HTTP plane and the store; this module adds the room state (memory or
Redis), the signalling server, the media plane, the courseware conversion queue and the
classroom pages, so that the command, the tests and the benchmarks all build the same node.
Each plane also gives the node its readiness check (``node.readiness.add``: ``redis``,
``media``, ``turn``, ``converters``; the egress plane (recordings' outputs) comes with the media plane) and its
metrics (``node.metrics``, names in ``tkroom.metrics``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tkroom.config import Settings
from tkroom.metrics import Metric, signal_families
from tkroom.node import Node
from tkroom.rooms.board import BoardLimits
from tkroom.rooms.transitions import SavePolicy
from tkroom.signal.server import SignalServer
from tkroom.state import RoomState, open_state
from tkroom.state.memory import MemoryState


@dataclass
class _StateService:
    """Starts the room state before the signalling server and stops it after."""

    state: RoomState

    async def start(self) -> None:
        await self.state.start()

    async def stop(self) -> None:
        await self.state.stop()


@dataclass
class _SignalService:
    """The signalling server. It starts after the node has adopted its cluster secret (which
    signs the join tickets it verifies); when its port was chosen at start (0), getconfig
    learns it."""

    signal: SignalServer
    node: Node

    async def start(self) -> None:
        self.signal.secret = self.node.secret
        await self.signal.start()
        self.node.settings.signal_port = self.signal.port

    async def stop(self) -> None:
        await self.signal.stop()


def _media_addresses(settings: Settings) -> list[str]:
    """The addresses the embedded Janus offers (what a TURN relay must reach); none when the
    media servers are external (``turn_allowed_peers`` names theirs)."""
    from tkroom.media.janus_process import ice_addresses

    if settings.janus_urls or not settings.embedded_janus:
        return []
    try:
        return ice_addresses(settings.janus_ice)
    except (OSError, ValueError, subprocess.SubprocessError):
        return []


def build_node(settings: Settings, *, state: RoomState | None = None, media: bool = True,
               web: bool = True, courseware: bool = True, grace: float | None = None,
               sweep_interval: float | None = None) -> Node:
    """A node with every plane. ``state`` overrides the one ``settings.redis_url`` selects;
    ``media=False`` leaves Janus out (media requests then answer with a clear code);
    ``courseware=False`` converts no document (they stay queued for a node that does);
    ``grace`` and ``sweep_interval`` override the settings' (tests shorten them)."""
    node = Node(settings)
    grace = settings.session_grace_s if grace is None else grace
    if state is None:
        extra = {"wait_replicas": settings.redis_wait_replicas} if settings.redis_url else {}
        state = open_state(settings.redis_url, window=settings.resume_window, grace=grace,
                           **extra)
    saved = SavePolicy(settings.max_saved_messages, settings.max_saved_per_user)
    board = BoardLimits(settings.board_max_shapes, settings.board_max_shape_bytes,
                        settings.board_rate)
    signal = SignalServer(settings.host, settings.effective_signal_port, node.directory, state,
                          node.secret, grace=grace, saved=saved, board=board,
                          sweep_interval=(settings.sweep_interval_s if sweep_interval is None
                                          else sweep_interval),
                          out_limit=settings.socket_out_limit_bytes,
                          group_timeout=settings.group_timeout_s,
                          join_timeout=settings.join_timeout_s,
                          max_conns_per_addr=settings.max_connections_per_address,
                          ssl=node.tls.context if node.tls else None)
    node.signal = signal

    async def online(serial: str) -> list[dict[str, Any]]:
        return [{"userid": m.userid, "role": m.role, "nickname": m.nickname,
                 "joined_ms": m.joined_ms} for m in await state.get_members(serial)]

    node.api.online = online  # getonlineuser
    node.services += [_StateService(state), _SignalService(signal, node)]
    if not isinstance(state, MemoryState):  # Redis, from settings.redis_url or given
        node.readiness.add("redis", state.ping)
    node.on_drain.append(signal.drain)

    def signal_metrics() -> list[Metric]:
        rooms, members, sockets = signal.local_load()
        return signal_families(signal.counts, rooms, members, sockets)

    node.metrics.add(signal_metrics)
    if media:
        from tkroom.media.plane import install_media
        from tkroom.turn.plane import install_turn

        node.media = install_media(node, signal)
        node.turn = install_turn(node, _media_addresses(settings))
        from tkroom.egress.plane import install_egress

        node.egress = install_egress(node, state, node.media)
    from tkroom.egress.live_plane import install_live

    install_live(node, signal)
    if courseware:
        from tkroom.courseware import install_courseware

        install_courseware(node)
    if web:
        from tkroom.web import web_routes
        from tkroom.webapi.playback import playback_code

        live = urlsplit(settings.live_public_url)
        sessions = node.sessions
        node.routes.extend(web_routes(
            lambda ident, token: playback_code(sessions, ident, token),
            f"{live.scheme}://{live.netloc}" if live.netloc else ""))
    return node
