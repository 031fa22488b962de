"""Embedded mode: the node writes a minimal Janus configuration and supervises a Janus child.

Only the core, the VideoRoom plugin and the WebSocket transport are loaded (the plugin and
transport folders the node writes hold symlinks to just those two libraries), so Janus logs
no errors about MQTT, SIP or event handlers. The WebSocket API listens on loopback, or on the
address the other nodes of a cluster reach it at (``ws_ip``); it always has an API secret. The
admin secret and the ICE interface list come from the node's settings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tkroom.tasks import end_process, wait_listening

log = logging.getLogger(__name__)

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port the kernel says is free now (bind to 0, read it, close)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class JanusSettings:
    """What the node decides about its own Janus."""

    workdir: Path
    ws_port: int = 0
    ws_ip: str = "127.0.0.1"  # where the API listens: another address shares it with the cluster
    ice_enforce_list: str = ""
    rtp_port_range: str = "20000-40000"
    admin_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    api_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    debug_level: int = 4
    slowlink_threshold: int = 4  # lost packets a second that make Janus report a slow link
    library_dir: Path = JANUS_LIB

    @property
    def url(self) -> str:
        host = f"[{self.ws_ip}]" if ":" in self.ws_ip else self.ws_ip
        return f"ws://{host}:{self.ws_port}"


def write_config(s: JanusSettings) -> Path:
    """Write the configuration folder for ``janus -F`` and return it."""
    if not s.ws_port:
        s.ws_port = free_tcp_port(s.ws_ip)
    cfg = s.workdir / "etc"
    plugins = s.workdir / "plugins"
    transports = s.workdir / "transports"
    empty = s.workdir / "none"
    for d in (cfg, plugins, transports, empty):
        d.mkdir(parents=True, exist_ok=True)
    for folder, lib in ((plugins, "plugins/libjanus_videoroom.so"),
                        (transports, "transports/libjanus_websockets.so")):
        link = folder / Path(lib).name
        if not link.exists():
            link.symlink_to(s.library_dir / lib)
    nat = f'\tice_enforce_list = "{s.ice_enforce_list}"\n' if s.ice_enforce_list else ""
    # IPv6 only when the operator named an IPv6 address: otherwise libnice adds every
    # interface's link-local fe80:: address, which no client can reach.
    ipv6 = "true" if ":" in s.ice_enforce_list else "false"
    (cfg / "janus.jcfg").write_text(
        "general: {\n"
        f'\tconfigs_folder = "{cfg}"\n'
        f'\tplugins_folder = "{plugins}"\n'
        f'\ttransports_folder = "{transports}"\n'
        f'\tevents_folder = "{empty}"\n'
        f'\tloggers_folder = "{empty}"\n'
        f"\tdebug_level = {s.debug_level}\n"
        f'\tadmin_secret = "{s.admin_secret}"\n'
        + (f'\tapi_secret = "{s.api_secret}"\n' if s.api_secret else "") +
        "\tsession_timeout = 60\n"
        '\tserver_name = "tkroom-janus"\n'
        "}\n"
        "media: {\n"
        f'\trtp_port_range = "{s.rtp_port_range}"\n'
        f"\tslowlink_threshold = {s.slowlink_threshold}\n"
        f"\tipv6 = {ipv6}\n"
        "}\n"
        "nat: {\n"
        f"{nat}"
        "\tnice_debug = false\n"
        '\tice_nomination = "aggressive"\n'
        "\tignore_mdns = true\n"
        "}\n"
        "events: {\n\tbroadcast = false\n}\n"
    )
    (cfg / "janus.plugin.videoroom.jcfg").write_text(
        "general: {\n\tstring_ids = true\n}\n"
    )
    (cfg / "janus.transport.websockets.jcfg").write_text(
        "general: {\n"
        '\tjson = "compact"\n'
        "\tws = true\n"
        f"\tws_port = {s.ws_port}\n"
        f'\tws_ip = "{s.ws_ip}"\n'
        "\twss = false\n"
        "}\n"
        "admin: {\n\tadmin_ws = false\n\tadmin_wss = false\n}\n"
    )
    return cfg


def interface_addresses() -> list[tuple[str, str]]:
    """``(interface, address)`` of every up, non-loopback interface of this network namespace,
    as Janus sees them when it gathers candidates."""
    out = subprocess.run(["ip", "-j", "addr", "show", "up"], capture_output=True, text=True,
                         check=True, timeout=10).stdout
    pairs = []
    for link in json.loads(out):
        if "LOOPBACK" in link.get("flags", []):
            continue
        for a in link.get("addr_info", []):
            if a.get("local") and not ipaddress.ip_address(a["local"]).is_loopback:
                pairs.append((link["ifname"], a["local"]))
    return pairs


def ice_addresses(enforce_list: str) -> list[str]:
    """The addresses Janus offers for ``ice_enforce_list`` (comma-separated interface names or
    addresses, each matching as a prefix, as Janus does): loopback never, since Janus skips it.
    Empty list: every address of an up interface (the empty setting)."""
    wanted = [w.strip() for w in enforce_list.split(",") if w.strip()]
    return [addr for name, addr in interface_addresses()
            if not wanted or any(name.startswith(w) or addr.startswith(w) for w in wanted)]


def check_ice_list(enforce_list: str) -> list[str]:
    """The addresses the embedded Janus will offer, or ``ValueError`` when the list matches
    none: Janus then silently falls back to every interface (IPv6 link-local included), the
    opposite of what the operator asked (``TKROOM_JANUS_ICE=lo`` did exactly that)."""
    found = ice_addresses(enforce_list)
    if enforce_list and not found:
        names = ", ".join(sorted({n for n, _ in interface_addresses()})) or "none"
        raise ValueError(
            f"TKROOM_JANUS_ICE={enforce_list!r} matches no interface Janus can offer (loopback "
            f"never carries ICE; the interfaces here are: {names}); Janus would offer every "
            "address instead")
    return found


def janus_argv(s: JanusSettings, binary: str = "janus") -> list[str]:
    """The command line for a Janus using the folder ``write_config`` wrote."""
    cfg = s.workdir / "etc"
    return [binary, "-F", str(cfg), "-C", str(cfg / "janus.jcfg"), "-L",
            str(s.workdir / "janus.log"), "-N"]


class JanusProcess:
    """A Janus child process that is restarted when it dies.

    ``on_restart`` is awaited after every restart, so the owner can recreate its rooms and
    tell clients to publish and subscribe again.
    """

    def __init__(self, settings: JanusSettings, binary: str | None = None,
                 on_restart: Callable[[], Awaitable[None]] | None = None) -> None:
        self.settings = settings
        self.binary = binary or shutil.which("janus") or "/usr/bin/janus"
        self.on_restart = on_restart
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def api_secret(self) -> str:
        return self.settings.api_secret

    async def start(self) -> None:
        """Write the configuration, start Janus, wait until its API listens, and supervise it.
        A Janus ICE list that matches no usable interface stops start-up (``ValueError``)."""
        check_ice_list(self.settings.ice_enforce_list)
        write_config(self.settings)
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise())

    async def _spawn(self) -> None:
        log_path = self.settings.workdir / "janus.out"
        out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *janus_argv(self.settings, self.binary), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            os.close(out)
        await wait_listening(self.settings.ws_port, host=self.settings.ws_ip, what="Janus")

    async def _supervise(self) -> None:
        while not self._stopping:
            assert self.proc is not None
            rc = await self.proc.wait()
            if self._stopping:
                return
            log.warning("Janus exited with %s; restarting it", rc)
            await asyncio.sleep(0.2)
            try:
                await self._spawn()
            except (OSError, TimeoutError):
                log.exception("Janus failed to restart; retrying")
                await asyncio.sleep(1.0)
                continue
            self.restarts += 1
            if self.on_restart is not None:
                try:
                    await self.on_restart()
                except Exception:
                    log.exception("on_restart hook failed")

    def kill(self) -> None:
        """Kill Janus abruptly (what a crash looks like); the supervisor restarts it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        """Stop supervising and terminate Janus."""
        self._stopping = True
        if self.proc is not None:
            await end_process(self.proc, 10)
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.wait({self._supervisor})


def janus_available() -> bool:
    """Whether the embedded mode can run here."""
    return (shutil.which("janus") is not None or os.path.exists("/usr/bin/janus")) and \
        (JANUS_LIB / "plugins/libjanus_videoroom.so").exists()
