"""The stage every network measurement shares: a private namespace (``tkroom.media.netns``)
with the embedded Janus on ``v0`` and the node's own coturn (UDP, TCP and TLS, with a
certificate from a CA made for this run and trusted by this process only), and in-process
SDK clients talking to the media service directly (no signalling in the way)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.media.__main__ import Directory, Local, Sink  # the media bench's in-process users
from tkroom.client.media import MediaClient
from tkroom.iceservers import TurnOffer
from tkroom.media.janus_process import JanusProcess, JanusSettings
from tkroom.media.netns import NetNamespace
from tkroom.media.servers import MediaServer, ServerRegistry
from tkroom.media.service import MediaService
from tkroom.turn.coturn import TurnProcess, TurnSettings

DAY = datetime.timedelta(days=1)


def make_certificate(folder: Path, address: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``address`` (IP SAN): (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.network CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - DAY).not_valid_after(now + DAY)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY).not_valid_after(now + DAY)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class NetworkEnv:
    """Janus + coturn in ``ns``; ``user(..., transport)`` makes an SDK client whose media goes
    direct (``None``) or only through TURN over ``udp``, ``tcp`` or ``tls``."""

    ns: NetNamespace
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tkroom-bench-net-")))
    turn_port: int = 3478
    turn_tls_port: int = 5349
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    janus: JanusProcess | None = None
    turn: TurnProcess | None = None
    local: Local | None = None
    _service: MediaService | None = None
    _registry: ServerRegistry | None = None

    async def start(self) -> None:
        ca, cert, key = make_certificate(self.work, self.ns.addr0)
        os.environ["SSL_CERT_FILE"] = str(ca)  # aioice's turns: trusts the default store
        self.janus = JanusProcess(JanusSettings(workdir=self.work / "janus",
                                                ice_enforce_list="v0",
                                                rtp_port_range="20000-40000", debug_level=3))
        await self.janus.start()
        self.turn = TurnProcess(TurnSettings(
            workdir=self.work / "turn", secret=self.secret, port=self.turn_port,
            tls_port=self.turn_tls_port, cert=cert, key=key, relay_ports="49152-65535",
            allowed_peers=[self.ns.addr0]))
        await self.turn.start()
        self._registry = ServerRegistry()
        sink = Sink()
        self._service = MediaService(self._registry, Directory(), sink,
                                     record_dir=self.work / "rec")
        self.local = Local(self._service, sink)
        await self._registry.add(MediaServer("embedded", self.janus.url,
                                             secret=self.janus.api_secret))

    def user(self, serial: str, userid: str, transport: str | None) -> MediaClient:
        assert self.local is not None
        client = self.local.user(serial, userid)
        if transport is not None:
            offer = TurnOffer(self.secret, 600, host=self.ns.addr0, port=self.turn_port,
                              tls_port=self.turn_tls_port)
            servers: list[dict[str, Any]] = offer.ice_servers(userid, "", time.time())
            scheme, proto = {"udp": ("turn:", "udp"), "tcp": ("turn:", "tcp"),
                             "tls": ("turns:", "tcp")}[transport]
            servers[0]["urls"] = [u for u in servers[0]["urls"]
                                  if u.startswith(scheme) and u.endswith(f"transport={proto}")]
            client.ice_servers = lambda: servers
            client.ice_policy = "relay"
        return client

    async def stop(self) -> None:
        if self._service is not None:
            await self._service.close()
        if self._registry is not None:
            await self._registry.close()
        if self.turn is not None:
            await self.turn.stop()
        if self.janus is not None:
            await self.janus.stop()
