"""Embedded TURN: the node writes a minimal coturn configuration and supervises ``turnserver``.

Only what a class needs: the TURN REST API (``use-auth-secret``: credentials the node signs,
no user database), UDP and TCP on one port, TLS on another when the node has a certificate,
a bounded relay port range and per-user quota, and no relaying into the operator's network:
every loopback, private, carrier-grade-NAT, benchmark and link-local range is denied except
the media servers' own addresses. coturn logs to its standard output, which the node forwards
to its own log (logger ``tkroom.turn.coturn``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tkroom.tasks import end_process, wait_listening

log = logging.getLogger(__name__)
coturn_log = logging.getLogger("tkroom.turn.coturn")

# Where a relay must never go unless it is a media server (RFC 6890 special-purpose ranges
# that can reach the operator's own machines).
DENIED_PEERS = (
    "0.0.0.0-0.255.255.255", "10.0.0.0-10.255.255.255", "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255", "169.254.0.0-169.254.255.255", "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255", "192.168.0.0-192.168.255.255", "198.18.0.0-198.19.255.255",
    "224.0.0.0-255.255.255.255",
    "::1", "::ffff:0.0.0.0-::ffff:255.255.255.255", "64:ff9b::-64:ff9b::ffff:ffff",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)
USER_QUOTA = 24  # allocations one credential may hold: a few per stream, with retries


@dataclass
class TurnSettings:
    """What the node decides about its own TURN server."""

    workdir: Path
    secret: str
    realm: str = "tkroom"
    port: int = 3478
    tls_port: int | None = None
    cert: Path | None = None
    key: Path | None = None
    relay_ports: str = "49152-65535"
    allowed_peers: list[str] = field(default_factory=list)
    listen: str = ""  # one address to listen and relay on; empty: every interface

    @property
    def tls(self) -> bool:
        return self.tls_port is not None and self.cert is not None and self.key is not None


def _peer_range(value: str) -> str:
    """An address or ``first-last`` range, checked (coturn ignores a malformed line)."""
    for part in value.split("-"):
        ipaddress.ip_address(part.strip())
    return value.strip()


def write_config(s: TurnSettings) -> Path:
    """Write ``turnserver.conf`` (readable by its owner only: it holds the secret)."""
    s.workdir.mkdir(parents=True, exist_ok=True)
    low, high = s.relay_ports.split("-")
    lines = [
        f"listening-port={s.port}",
        f"min-port={low}", f"max-port={high}",
        "use-auth-secret", f"static-auth-secret={s.secret}", f"realm={s.realm}",
        "fingerprint", "no-cli", "no-multicast-peers", "no-tcp-relay", "no-software-attribute",
        "no-dtls", "no-tlsv1", "no-tlsv1_1",
        f"user-quota={USER_QUOTA}",
        "log-file=stdout", "simple-log",
        f"pidfile={s.workdir / 'turnserver.pid'}",
        f"userdb={s.workdir / 'turndb'}",
    ]
    if s.listen:
        lines += [f"listening-ip={s.listen}", f"relay-ip={s.listen}"]
    if s.tls:
        lines += [f"tls-listening-port={s.tls_port}", f"cert={s.cert}", f"pkey={s.key}"]
    else:
        lines.append("no-tls")
    lines += [f"denied-peer-ip={r}" for r in DENIED_PEERS]
    lines += [f"allowed-peer-ip={_peer_range(p)}" for p in s.allowed_peers]
    path = s.workdir / "turnserver.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def turnserver_binary() -> str | None:
    """The ``turnserver`` of Debian's ``coturn`` package, or ``None``."""
    return shutil.which("turnserver") or ("/usr/bin/turnserver"
                                          if os.path.exists("/usr/bin/turnserver") else None)


class TurnProcess:
    """A ``turnserver`` child that is restarted when it dies."""

    def __init__(self, settings: TurnSettings, binary: str | None = None) -> None:
        self.settings = settings
        self.binary = binary or turnserver_binary() or "turnserver"
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._supervisor: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self, within: float = 15.0) -> None:
        """Write the configuration, start coturn, wait until it listens, and supervise it."""
        write_config(self.settings)
        await self._spawn(within)
        self._supervisor = asyncio.create_task(self._supervise())

    async def _spawn(self, within: float) -> None:
        conf = self.settings.workdir / "turnserver.conf"
        self.proc = await asyncio.create_subprocess_exec(
            self.binary, "-c", str(conf), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = asyncio.create_task(self._forward(self.proc))
        try:
            await wait_listening(self.settings.port, within,
                                 self.settings.listen or "127.0.0.1", proc=self.proc,
                                 what="turnserver")
        except RuntimeError as e:
            raise RuntimeError(f"{e} (its lines are in the node's log, logger "
                               "tkroom.turn.coturn)") from None

    @staticmethod
    async def _forward(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            coturn_log.info("%s", line.decode(errors="replace").rstrip())

    async def _supervise(self) -> None:
        while not self._stopping:
            assert self.proc is not None
            rc = await self.proc.wait()
            if self._stopping:
                return
            log.warning("turnserver exited with %s; restarting it", rc)
            await asyncio.sleep(0.2)
            try:
                await self._spawn(15.0)
            except (OSError, TimeoutError, RuntimeError):
                log.exception("turnserver failed to restart; retrying")
                await asyncio.sleep(1.0)
                continue
            self.restarts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def kill(self) -> None:
        """Kill coturn abruptly (what a crash looks like); the supervisor restarts it."""
        if self.alive():
            assert self.proc is not None
            self.proc.kill()

    def reload_certificates(self) -> None:
        """coturn re-reads its certificate files on SIGUSR2 (renewals without a restart)."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGUSR2)

    async def stop(self) -> None:
        """Stop supervising and terminate coturn."""
        self._stopping = True
        if self.proc is not None:
            await end_process(self.proc, 10)
        for task in (self._supervisor, self._reader):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
