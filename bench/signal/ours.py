"""The tkroom side of the benchmark: a node (store, HTTP, signalling) in its own process.

``python -m bench.signal.ours --data DIR --signal-port P`` builds the node exactly as
``tkroom serve`` does (``tkroom.planes.build_node``: store, HTTP, memory room state,
signalling) but without the media plane and the classroom pages, which are not on the
signalling path (and would start a Janus on the server's core), and prints
``listening <http port> <signal port>``. With ``--profile FILE`` it runs under cProfile and
writes the statistics when stopped (SIGTERM), for the note on where the time goes.

``TkroomNode`` (used by ``python -m bench.signal``) creates the enterprise with the real
``tkroom admin`` command, the room with the real ``roomcreate`` Web API call, and mints join
tickets with the node's secret exactly as ``checkroom`` does (thousands of checkroom calls
would measure password hashing, not signalling).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench.signal.targets import PYTHON, Target, _wait_line, pin_prefix, python_env

from tkroom import tickets


class TkroomNode(Target):
    name = "tkroom"
    dialect = "tkroom"

    def __init__(self, profile: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.profile = profile
        self.env = env or {}  # TKROOM_* settings for the node (bench.whiteboard raises limits)
        self.secret = secrets.token_bytes(32)
        self.tmp = Path(tempfile.mkdtemp(prefix="tkroom-bench-"))
        self.serial = ""

    def start(self, cpu: int | None) -> None:
        env = {**python_env(), **self.env, "TKROOM_SECRET": self.secret.hex()}
        made = subprocess.run(
            [PYTHON, "-m", "tkroom", "admin", "enterprise", "create", "Bench", "--data",
             str(self.tmp)], env=env, capture_output=True, text=True, check=True)
        authkey = json.loads(made.stdout)["authkey"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            sig_port = s.getsockname()[1]
        cmd = [*pin_prefix(cpu), PYTHON, "-m", "bench.signal.ours", "--data", str(self.tmp),
               "--signal-port", str(sig_port)]
        if self.profile is not None:
            cmd += ["--profile", str(self.profile)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        _, http_port, self.port = (int(x) if x.isdigit() else x
                                   for x in _wait_line(self.proc, "listening", 60).split())
        now = int(time.time())
        r = httpx.post(f"http://127.0.0.1:{http_port}/WebAPI/roomcreate", timeout=30, data={
            "key": authkey, "roomname": "Bench", "roomtype": 3, "starttime": now,
            "endtime": now + 3600, "passwordrequired": 0, "chairmanpwd": "teach1",
            "assistantpwd": "assist1", "patrolpwd": "patrol1", "maxusers": 0}).json()
        if r["result"] != 0:
            raise RuntimeError(f"roomcreate answered {r}")
        self.serial = r["serial"]

    def credentials(self, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        now = time.time()

        def tk(uid: str, role: int) -> dict[str, Any]:
            ident = tickets.Identity(self.serial, uid, role, uid)
            return {"ticket": tickets.issue(self.secret, ident, now, 600)}

        return tk("teacher", 0), [tk(f"s{i}", 2) for i in range(n)]

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()


async def serve(args: argparse.Namespace) -> None:
    from tkroom.config import Settings
    from tkroom.planes import build_node

    # every simulated member connects from 127.0.0.1: no per-address cap
    settings = Settings.from_env(data_dir=args.data, port=0, signal_port=args.signal_port,
                                 log_level="warning", max_connections_per_address=0)
    node = build_node(settings, media=False, web=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set)
    await node.start()
    print(f"listening {node.port} {settings.signal_port}", flush=True)
    await stop.wait()
    await node.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--signal-port", type=int, required=True)
    p.add_argument("--profile", type=Path)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.profile is None:
        asyncio.run(serve(args))
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        asyncio.run(serve(args))
    finally:
        prof.disable()
        prof.dump_stats(args.profile)


if __name__ == "__main__":
    main()
