"""Media fixtures: a private network namespace per test session and a Janus running in it."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REQUIRE_ALL, need_binary
from tkroom.media.janus_process import JanusSettings, janus_argv, write_config
from tkroom.media.netns import NetNamespace

pytestmark = pytest.mark.media


@pytest.fixture(scope="session")
def netns() -> Iterator[NetNamespace]:
    """A namespace with a veth pair (198.18.x), deleted after the session."""
    need_binary("ip")
    if os.geteuid() != 0:
        msg = "network namespaces need root"
        if REQUIRE_ALL:
            pytest.fail(msg)
        pytest.skip(msg)
    ns = NetNamespace.create()
    try:
        yield ns
    finally:
        ns.delete()


@pytest.fixture
def in_netns(netns: NetNamespace) -> Iterator[NetNamespace]:
    """Run the test's own sockets (aiortc, the node) inside the namespace."""
    with netns.entered():
        yield netns


def wait_port(port: int, within: float = 15.0) -> None:
    """Poll (in the calling thread's namespace) until 127.0.0.1:port accepts."""
    deadline = time.monotonic() + within
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_janus(ns: NetNamespace, workdir: Path) -> tuple[subprocess.Popen[bytes], JanusSettings]:
    """Start a Janus inside ``ns`` with the node's own minimal configuration."""
    janus = need_binary("janus")
    s = JanusSettings(workdir=workdir, ice_enforce_list="v0", rtp_port_range="30000-39999",
                      api_secret="")  # like a server registered without a secret
    write_config(s)
    with ns.entered():
        out = open(workdir / "janus.out", "wb")  # noqa: SIM115 - kept open for the child's life
        proc = subprocess.Popen(janus_argv(s, janus), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        out.close()
        try:
            wait_port(s.ws_port)
        except OSError:
            proc.kill()
            raise
    return proc, s


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="session")
def janus(netns: NetNamespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JanusSettings]:
    """One Janus for the session, in the namespace; its API on 127.0.0.1 inside it."""
    proc, settings = start_janus(netns, tmp_path_factory.mktemp("janus"))
    try:
        yield settings
    finally:
        stop_process(proc)
