"""A student on a slow or lossy link: a second namespace behind the server's shaped veth.

The server namespace (``NetNamespace``: Janus, the node, the publishers, all talking over its
own addresses) hands its veth end ``v1`` to a student namespace. What the server sends the
student leaves through ``v0``, so that is where the link is shaped: ``tc tbf`` caps
the rate (packets beyond a short queue are dropped, as on a congested home link), and random
loss is an ``iptables`` ``statistic`` rule (``tc netem`` is not available on every kernel;
this one has none). The student's browser opens the node at ``127.0.0.1`` inside its own
namespace (a secure context, same URLs as everyone): ``forward`` relays those TCP ports to the
server over the shaped link. Only addresses of the namespaces created here are ever used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from tkroom.media.netns import NetNamespace


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@dataclass
class StudentLink:
    """A student namespace (``student``) behind a shapeable link to ``server``: the server's
    veth end ``v1`` moves into it, so the student sits on the server's own 198.18.N.0/24 (the
    subnet the media server offers candidates on) and ``v0`` carries all it receives."""

    server: NetNamespace
    student: NetNamespace

    @property
    def server_addr(self) -> str:
        return self.server.addr0

    @property
    def student_addr(self) -> str:
        return self.server.addr1

    @classmethod
    def create(cls, server: NetNamespace) -> StudentLink:
        """A new student namespace joined to ``server`` (deleted with ``delete``, which gives
        ``v1`` back to nobody: the server namespace keeps only ``v0`` afterwards)."""
        student = NetNamespace(f"tks-{os.getpid()}-{secrets.token_hex(3)}", server.subnet)
        _ip("netns", "add", student.name)
        link = cls(server, student)
        try:
            student.run("ip", "link", "set", "lo", "up")
            server.run("ip", "link", "set", "v1", "netns", student.name)
            student.run("ip", "addr", "add", f"{server.addr1}/24", "dev", "v1")
            student.run("ip", "link", "set", "v1", "up")
        except BaseException:
            link.delete()
            raise
        return link

    def shape(self, rate_kbit: int, *, loss_percent: float = 0.0, queue_ms: int = 60) -> None:
        """Cap what reaches the student at ``rate_kbit`` (a ``queue_ms`` queue, then drops),
        and drop ``loss_percent`` of its UDP packets at random."""
        self.clear()
        burst = max(3000, rate_kbit * 1000 // 8 // 50)  # 20 ms of the rate, at least 2 packets
        self.server.run("tc", "qdisc", "add", "dev", "v0", "root", "tbf", "rate",
                        f"{rate_kbit}kbit", "burst", str(burst), "latency", f"{queue_ms}ms")
        if loss_percent > 0:
            self.server.run("iptables", "-A", "OUTPUT", "-o", "v0", "-p", "udp", "-m",
                            "statistic", "--mode", "random", "--probability",
                            f"{loss_percent / 100:.4f}", "-j", "DROP")

    def clear(self) -> None:
        """Lift the shaping: the link runs at veth speed again."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.server.run("tc", "qdisc", "del", "dev", "v0", "root")
        with contextlib.suppress(subprocess.CalledProcessError):
            self.server.run("iptables", "-F", "OUTPUT")

    def delete(self) -> None:
        """Remove the student namespace (the veth pair goes with it)."""
        self.clear()
        self.student.delete()

    @contextlib.contextmanager
    def forward(self, *ports: int) -> Iterator[None]:
        """Inside the student namespace, relay 127.0.0.1:<port> to the server's address, for
        each port (the node's HTTP and signalling), while the block runs."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        servers: list[asyncio.Server] = []

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        port: int) -> None:
            try:
                up_r, up_w = await asyncio.open_connection(self.server_addr, port)
            except OSError:
                writer.close()
                return

            async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                with contextlib.suppress(OSError):
                    while data := await r.read(65536):
                        w.write(data)
                        await w.drain()
                w.close()

            await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

        def handler(port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                           Awaitable[None]]:
            return lambda r, w: relay(r, w, port)

        async def start() -> None:
            for port in ports:
                servers.append(await asyncio.start_server(handler(port), "127.0.0.1", port))

        def run() -> None:
            with self.student.entered():
                asyncio.set_event_loop(loop)
                loop.run_until_complete(start())
                ready.set()
                loop.run_forever()

        thread = threading.Thread(target=run, daemon=True, name="student-forward")
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the student's port relay did not start")
        try:
            yield
        finally:
            for s in servers:
                loop.call_soon_threadsafe(s.close)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
