"""The cluster under test: ``tkroom`` nodes in their own processes on one private Redis and one
data folder (SQLite, one secret), as ``tests/test_client_cluster.py`` runs two ``tkroom serve``.

Each node is ``bench.signal.ours`` (``tkroom.planes.build_node`` exactly as ``tkroom serve``
builds it, without the media plane and pages) with ``TKROOM_REDIS_URL`` set, so room state,
fan-out between nodes and resume go through Redis as in production; pinned to a core with
``taskset`` when given one. The enterprise comes from the real ``tkroom admin enterprise
create``, the room from the real ``roomcreate``; join tickets are minted with the shared
secret as ``checkroom`` mints them.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.signal.targets import PYTHON, _wait_line, pin_prefix, python_env
from tkroom import tickets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """``n`` nodes sharing ``redis_url`` and one data folder; ``ports[i]`` is node i's
    signalling port, ``urls[i]`` its ``ws://`` URL, ``serial`` the one class."""

    host = "127.0.0.1"

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.secret = secrets.token_bytes(32)
        self.tmp = Path(tempfile.mkdtemp(prefix="tkroom-bench-cluster-"))
        self.procs: list[subprocess.Popen[str]] = []
        self.ports: list[int] = []
        self.serial = ""

    @property
    def urls(self) -> list[str]:
        return [f"ws://{self.host}:{p}/signal" for p in self.ports]

    def start(self, cpus: list[int | None]) -> None:
        """One node per entry of ``cpus`` (the core it is pinned to, or None), then the class."""
        env = {**python_env(), "TKROOM_SECRET": self.secret.hex(),
               "TKROOM_REDIS_URL": self.redis_url}
        made = subprocess.run(
            [PYTHON, "-m", "tkroom", "admin", "enterprise", "create", "Bench", "--data",
             str(self.tmp)], env=env, capture_output=True, text=True, check=True)
        authkey = json.loads(made.stdout)["authkey"]
        http_port = 0
        for cpu in cpus:
            proc = subprocess.Popen(
                [*pin_prefix(cpu), PYTHON, "-m", "bench.signal.ours", "--data", str(self.tmp),
                 "--signal-port", str(free_port())], env=env, stdout=subprocess.PIPE, text=True)
            self.procs.append(proc)
            _, http, sig = _wait_line(proc, "listening", 60).split()
            http_port = http_port or int(http)
            self.ports.append(int(sig))
        now = int(time.time())
        r = httpx.post(f"http://127.0.0.1:{http_port}/WebAPI/roomcreate", timeout=30, data={
            "key": authkey, "roomname": "Bench", "roomtype": 3, "starttime": now,
            "endtime": now + 3600, "passwordrequired": 0, "chairmanpwd": "teach1",
            "assistantpwd": "assist1", "patrolpwd": "patrol1", "maxusers": 0}).json()
        if r["result"] != 0:
            raise RuntimeError(f"roomcreate answered {r}")
        self.serial = r["serial"]

    def ticket(self, userid: str, role: int = 2) -> str:
        ident = tickets.Identity(self.serial, userid, role, userid)
        return tickets.issue(self.secret, ident, time.time(), 600)

    def credentials(self, prefix: str, n: int) -> list[dict[str, Any]]:
        """``joinRoom`` data of ``n`` students for the raw load generator."""
        return [{"ticket": self.ticket(f"{prefix}{i}")} for i in range(n)]

    def kill(self, i: int) -> None:
        """SIGKILL node ``i`` (a crash: no goodbye to its sockets or to Redis)."""
        self.procs[i].kill()
        self.procs[i].wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
