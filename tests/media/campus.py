"""A school network in namespaces the test creates: a server, a router doing NAT, a student.

    student (198.19.L.2) --lan-- router (198.19.L.1 | 198.18.S.2, MASQUERADE) --wan-- server (198.18.S.1)

The student's only route is through the router, which rewrites its address to the router's
(a home or school NAT) and filters what it forwards: ``udp_to_turn_only`` lets UDP through
only to the TURN port (every other UDP packet, Janus's included, is dropped), ``tcp_only``
drops all UDP and lets TCP through only to the node's and the TURN server's ports. Nothing has
a route out of the three namespaces.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from tkroom.media.netns import NetNamespace


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def _ns(prefix: str) -> NetNamespace:
    ns = NetNamespace(name=f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}")
    _ip("netns", "add", ns.name)
    ns.run("ip", "link", "set", "lo", "up")
    return ns


@dataclass
class Campus:
    server: NetNamespace
    router: NetNamespace
    student: NetNamespace
    wan: int
    lan: int

    @property
    def server_addr(self) -> str:
        return f"198.18.{self.wan}.1"

    @property
    def router_wan(self) -> str:
        return f"198.18.{self.wan}.2"

    @property
    def student_addr(self) -> str:
        return f"198.19.{self.lan}.2"

    def iptables(self, *rule: str) -> None:
        self.router.run("iptables", *rule)

    def udp_to_turn_only(self, turn_port: int) -> None:
        """UDP leaves the campus only towards the TURN server's port; TCP freely."""
        self.iptables("-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
                      "-j", "ACCEPT")
        self.iptables("-A", "FORWARD", "-p", "udp", "-d", self.server_addr, "--dport",
                      str(turn_port), "-j", "ACCEPT")
        self.iptables("-A", "FORWARD", "-p", "udp", "-j", "DROP")

    def tcp_only(self, *ports: int) -> None:
        """No UDP at all; TCP only to ``ports`` of the server (the node's and TURN's)."""
        self.iptables("-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
                      "-j", "ACCEPT")
        self.iptables("-A", "FORWARD", "-p", "udp", "-j", "DROP")
        for port in ports:
            self.iptables("-A", "FORWARD", "-p", "tcp", "-d", self.server_addr, "--dport",
                          str(port), "-j", "ACCEPT")
        self.iptables("-A", "FORWARD", "-j", "DROP")

    def dropped_udp(self) -> int:
        """Packets the router's UDP DROP rule has dropped so far (proof the direct path was
        tried and blocked)."""
        out = subprocess.run(self.router.argv("iptables", "-L", "FORWARD", "-v", "-n", "-x"),
                             capture_output=True, text=True, check=True, timeout=20).stdout
        rows = [line.split() for line in out.splitlines()]
        return sum(int(r[0]) for r in rows
                   if len(r) > 3 and r[2] == "DROP" and r[3] in ("udp", "17"))

    def delete(self) -> None:
        for ns in (self.student, self.router, self.server):
            ns.delete()

    @classmethod
    def create(cls) -> Campus:
        server, router, student = _ns("tks"), _ns("tkr"), _ns("tku")
        c = cls(server, router, student, wan=secrets.randbelow(250), lan=secrets.randbelow(250))
        try:
            server.run("ip", "link", "add", "s0", "type", "veth", "peer", "name", "r0", "netns",
                       router.name)
            router.run("ip", "link", "add", "r1", "type", "veth", "peer", "name", "u0", "netns",
                       student.name)
            server.run("ip", "addr", "add", f"{c.server_addr}/24", "dev", "s0")
            router.run("ip", "addr", "add", f"{c.router_wan}/24", "dev", "r0")
            router.run("ip", "addr", "add", f"198.19.{c.lan}.1/24", "dev", "r1")
            student.run("ip", "addr", "add", f"{c.student_addr}/24", "dev", "u0")
            server.run("ip", "link", "set", "s0", "up")
            router.run("ip", "link", "set", "r0", "up")
            router.run("ip", "link", "set", "r1", "up")
            student.run("ip", "link", "set", "u0", "up")
            student.run("ip", "route", "add", "default", "via", f"198.19.{c.lan}.1")
            router.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
            c.iptables("-t", "nat", "-A", "POSTROUTING", "-o", "r0", "-j", "MASQUERADE")
        except BaseException:
            c.delete()
            raise
        return c


@contextlib.contextmanager
def campus() -> Iterator[Campus]:
    c = Campus.create()
    try:
        yield c
    finally:
        c.delete()
