"""The TURN plane: who relays a student's media when the media server is out of reach.

With ``turn_urls`` the node only signs credentials for those servers. Otherwise, when
``embedded_turn`` is on and coturn is installed, it runs its own (``tkroom.turn.coturn``), with
TLS when the node has a certificate. Either way the Web API's ``checkroom`` and ``getconfig``
hand each user short-lived credentials (``ApiState.turn``, a ``tkroom.iceservers.TurnOffer``);
with neither, they hand out no ``iceServers`` and clients must reach the media server directly.

Janus itself is not given the TURN server: it runs on an address clients are meant to reach,
so its host candidates are what a relay connects to; a TURN client inside Janus would only add
a detour (docs/operations.md#turn).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from tkroom.config import Settings
from tkroom.iceservers import TurnOffer, turn_secret_from
from tkroom.tasks import tcp_open
from tkroom.turn.coturn import TurnProcess, TurnSettings, turnserver_binary

log = logging.getLogger(__name__)


class TurnPlane:
    """Start/stop the own TURN server (if any) and publish the offer to the Web API."""

    def __init__(self, node: Any, allowed_peers: list[str]) -> None:
        self.node = node
        self.allowed_peers = allowed_peers
        self.process: TurnProcess | None = None
        self.offer: TurnOffer | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s: Settings = self.node.settings
        secret = s.turn_secret or turn_secret_from(self.node.secret)  # the adopted secret
        tls = self.node.tls
        if s.turn_urls:
            self.offer = TurnOffer(secret, s.turn_ttl_s, urls=tuple(s.turn_urls))
        elif s.embedded_turn and turnserver_binary() and _loopback(s.host):
            log.info("no TURN server: the node listens on loopback only (%s), where every "
                     "client reaches the media server directly", s.host)
        elif s.embedded_turn and turnserver_binary():
            self.process = TurnProcess(TurnSettings(
                workdir=s.data_dir / "turn", secret=secret, realm=s.turn_realm,
                port=s.turn_port, tls_port=s.turn_tls_port if tls else None,
                cert=tls.cert if tls else None, key=tls.key if tls else None,
                relay_ports=s.turn_relay_ports, allowed_peers=list(s.turn_allowed_peers or
                                                         self.allowed_peers),
                listen=_listen_address(s.host)))
            await self.process.start()
            self.offer = TurnOffer(secret, s.turn_ttl_s, host=s.turn_host, port=s.turn_port,
                                   tls_port=s.turn_tls_port if tls else None)
            if tls is not None:
                self._watch = asyncio.create_task(self._follow_certificates(tls))
        else:
            log.info("no TURN server (coturn not installed or turned off): clients must reach "
                     "the media server directly")
        self.node.api.turn = self.offer

    async def _follow_certificates(self, tls: Any) -> None:
        """The node reloads its own certificate pair; coturn is told to follow (SIGUSR2)."""
        seen = tls.reloads
        while True:
            await asyncio.sleep(tls.interval)
            if tls.reloads != seen and self.process is not None:
                seen = tls.reloads
                self.process.reload_certificates()

    async def readiness(self) -> dict[str, Any]:
        """Ready when the own TURN server accepts on its port (or the node runs none)."""
        if self.process is None:
            return {"ok": True, "embedded": False, "urls": list(self.offer.urls) if self.offer
                    else []}
        port = self.process.settings.port
        ok = self.process.alive() and await tcp_open(port, self.process.settings.listen or
                                                       "127.0.0.1")
        return {"ok": ok, "embedded": True, "port": port, "restarts": self.process.restarts}

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        if self.process is not None:
            await self.process.stop()
        self.node.api.turn = None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _listen_address(host: str) -> str:
    """coturn listens where the node does: the ``host`` address, or every interface for a
    wildcard or a name."""
    try:
        return "" if ipaddress.ip_address(host).is_unspecified else host
    except ValueError:
        return ""


def install_turn(node: Any, allowed_peers: list[str]) -> TurnPlane:
    """Add the TURN plane to a ``tkroom.node.Node``; ``allowed_peers``: the media servers'
    addresses the relay may reach (``turn_allowed_peers`` overrides). Call before start."""
    plane = TurnPlane(node, allowed_peers)
    node.services.append(plane)
    node.readiness.add("turn", plane.readiness)
    return plane
