"""A private network namespace with a veth pair, for running real media locally.

Janus (libnice) gathers no ICE candidates on loopback alone and aiortc skips 127.0.0.1, so
tests, benchmarks and local demos run Janus and the WebRTC peers inside a namespace whose
two veth ends have 198.18.x addresses and no route out: nothing can leave the machine.
Python code joins the namespace per thread with ``setns`` (``entered()``); child processes
spawned while inside inherit it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@dataclass
class NetNamespace:
    """One namespace: ``v0`` (198.18.N.1) and ``v1`` (198.18.N.2), both ends inside it."""

    name: str
    subnet: int = 0

    @property
    def addr0(self) -> str:
        return f"198.18.{self.subnet}.1"

    @property
    def addr1(self) -> str:
        return f"198.18.{self.subnet}.2"

    @classmethod
    def create(cls, prefix: str = "tkr") -> NetNamespace:
        """Create a uniquely named namespace with loopback and the veth pair up."""
        ns = cls(name=f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}", subnet=secrets.randbelow(250))
        _ip("netns", "add", ns.name)
        try:
            ns.run("ip", "link", "set", "lo", "up")
            ns.run("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
            ns.run("ip", "addr", "add", f"{ns.addr0}/24", "dev", "v0")
            ns.run("ip", "addr", "add", f"{ns.addr1}/24", "dev", "v1")
            ns.set_link(up=True)
        except BaseException:
            ns.delete()
            raise
        return ns

    def argv(self, *argv: str) -> list[str]:
        """The command line that runs ``argv`` inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str) -> None:
        subprocess.run(self.argv(*argv), check=True, capture_output=True, timeout=20)

    def set_link(self, *, up: bool) -> None:
        """Bring the veth pair up or down: 'cutting the cable' between the peers."""
        state = "up" if up else "down"
        self.run("ip", "link", "set", "v0", state)
        self.run("ip", "link", "set", "v1", state)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Move the calling thread into the namespace, and back out afterwards.

        Sockets, subprocesses and threads created by this thread meanwhile belong to it.
        """
        with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{self.name}") as target:
            _setns(target.fileno())
            try:
                yield
            finally:
                _setns(home.fileno())

    def delete(self) -> None:
        """Remove the namespace (its veth pair goes with it)."""
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "delete", self.name)
