"""A private moto S3 server (moto 5's standalone ``moto_server``) on a free 127.0.0.1 port,
with one bucket: what the storage tests (and any test of the ``s3`` storage) talk to."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from media.conftest import stop_process
from tkroom.config import Settings

MOTO = Path(sys.executable).parent / "moto_server"
ACCESS_KEY = SECRET_KEY = "testing"  # moto accepts any credentials


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoS3:
    """``start()`` a server with ``bucket`` in it, ``kill()`` it (an outage), ``stop()``."""

    def __init__(self, bucket: str = "tkroom-test", *, enforce_auth: bool = False) -> None:
        self.bucket = bucket
        self.enforce_auth = enforce_auth  # check signatures and keys, as a real server does
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 60.0) -> None:
        if not MOTO.exists():
            raise RuntimeError(f"{MOTO} is missing (the dev extra installs moto[server])")
        # moto checks credentials after this many requests (the bucket's creation comes first)
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "1"} if self.enforce_auth else None
        self.proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env)
        deadline = time.monotonic() + wait
        while True:  # a child's readiness: nothing to await but its port answering
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode} at start")
            try:  # a connection, not a request: with enforce_auth, requests are counted
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server did not answer within {wait:g} s") from None
                time.sleep(0.1)
        httpx.put(f"{self.endpoint}/{self.bucket}", timeout=10).raise_for_status()

    def values(self, **over: Any) -> dict[str, Any]:
        """The settings of an ``s3`` storage in this server's bucket, under a prefix of its
        own (tests sharing the server do not see each other's objects) unless ``s3_prefix``
        is given: to merge into a test's other settings."""
        return {"storage": "s3", "s3_endpoint": self.endpoint, "s3_bucket": self.bucket,
                "s3_access_key": ACCESS_KEY, "s3_secret_key": SECRET_KEY,
                "s3_prefix": f"t-{secrets.token_hex(4)}/", **over}

    def settings(self, **over: Any) -> Settings:
        """``Settings(**values(**over))``."""
        return Settings(**self.values(**over))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
