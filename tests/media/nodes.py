"""A whole node with its media plane on a test's Janus, for the tests that go through a node;
``tkroom serve`` processes in a test's network namespace, for the tests that kill one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from client_node import NodeEnv, running_node
from tkroom.media.bridge import StateSink, attach_media
from tkroom.media.janus_process import JanusSettings
from tkroom.media.netns import NetNamespace
from tkroom.media.plane import MediaPlane, MediaSettings
from webapi_nodes import SRC, port_open
from webapi_nodes import wait_for as wait_port


@asynccontextmanager
async def media_node(tmp_path: Path, janus: JanusSettings) -> AsyncIterator[tuple[NodeEnv, MediaPlane]]:
    """``running_node`` with a media plane on ``janus`` attached to its signalling, started,
    and stopped (after the test's own clean-up) on the way out."""
    async with running_node(tmp_path) as env:
        plane = MediaPlane(MediaSettings([janus.url], tmp_path / "media", embedded=False),
                           env.node.directory, StateSink(env.signal.state))
        attach_media(env.signal, plane.service)
        await plane.start()
        try:
            yield env, plane
        finally:
            await plane.stop()


class Serve:
    """``tkroom serve`` started inside ``ns`` with the cluster's signal URLs, own first;
    ``env``: more variables for it; ``log``: where its output goes (nowhere by default)."""

    def __init__(self, ns: NetNamespace, args: list[str], port: int, signal_port: int,
                 signal_urls: list[str], env: dict[str, str] | None = None,
                 log: Path | None = None) -> None:
        self.ns, self.port, self.signal_port = ns, port, signal_port
        urls = [a for u in signal_urls for a in ("--signal-url", u)]
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        with ns.entered():
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tkroom", "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--signal-port", str(signal_port), *urls, *args],
                env={**os.environ, "PYTHONPATH": SRC, **(env or {})}, stdout=out,
                stderr=subprocess.STDOUT)
            if not isinstance(out, int):
                out.close()
            wait_port(lambda: port_open("127.0.0.1", port) or self.proc.poll() is not None, 60,
                      what="tkroom serve")
        assert self.proc.poll() is None, "tkroom serve exited"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def signal_url(self) -> str:
        return f"ws://127.0.0.1:{self.signal_port}/signal"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
