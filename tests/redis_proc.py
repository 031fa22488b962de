"""A private ``redis-server`` on a Unix socket in a temp dir, that a test may kill and start
again on the same directory (what it persisted, AOF or nothing, is what comes back)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import need_binary


class RedisProc:
    """``start()``, ``kill()`` (SIGKILL, as a crash), ``start()`` again, ``stop()`` at the end.
    ``appendonly``: AOF with ``appendfsync everysec`` (the recommended setting), else none."""

    def __init__(self, appendonly: bool = False, directory: Path | None = None) -> None:
        self.binary = need_binary("redis-server")
        self.own_dir = directory is None
        self.dir = directory or Path(tempfile.mkdtemp(prefix="tkroom-redis-"))
        self.sock = self.dir / "redis.sock"
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    def start(self, wait: float = 30.0) -> None:
        persist = (["--appendonly", "yes", "--appendfsync", "everysec"] if self.appendonly
                   else ["--appendonly", "no"])
        self.sock.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", "--unixsocket", str(self.sock), "--unixsocketperm", "700",
             "--dir", str(self.dir), "--save", "", *persist],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def wait_in_aof(self, data: bytes, wait: float = 30.0) -> None:
        """Return once ``data`` is in the append-only files (everysec writes them at once
        unless an fsync is slow, then up to 2 s later)."""
        deadline = time.monotonic() + wait
        while not any(data in f.read_bytes() for f in self.dir.glob("appendonlydir/*.aof")):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{data!r} not in the AOF")
            time.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
