"""The servers under test: start one pinned to a core, hand out join credentials, stop it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"


def pin_prefix(cpu: int | None) -> list[str]:
    """``taskset -c N`` when there is a core to pin to and taskset is there."""
    if cpu is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def _wait_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            continue
        if line.startswith(prefix):
            return line.strip()
    raise RuntimeError(f"server did not say {prefix!r} in {timeout} s")


class Target:
    """A running server: ``host``, ``port`` and the dialect the load generator speaks to it."""

    name = ""
    dialect = ""
    host = "127.0.0.1"
    port = 0
    proc: subprocess.Popen[str] | None = None

    def start(self, cpu: int | None) -> None:
        raise NotImplementedError

    def credentials(self, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The sender's (a teacher) and ``n`` members' joinRoom data."""
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class NodeSocketIO(Target):
    """bench/signal/node/server.js: socket.io 4.8 that only broadcasts."""

    name = "node socket.io"
    dialect = "socket.io"

    def start(self, cpu: int | None) -> None:
        if not (NODE_DIR / "node_modules" / "socket.io").is_dir():
            subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
        self.proc = subprocess.Popen(
            [*pin_prefix(cpu), "node", str(NODE_DIR / "server.js"), "0"],
            stdout=subprocess.PIPE, text=True,
        )
        self.port = int(_wait_line(self.proc, "listening", 30).split()[1])

    def credentials(self, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return {}, [{} for _ in range(n)]


def python_env() -> dict[str, str]:
    """The environment for a node of this checkout (its own ``src`` first on the path)."""
    src = str(HERE.parent.parent / "src")
    env = dict(os.environ)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


PYTHON = sys.executable
