"""A private Redis Sentinel set on 127.0.0.1: a primary, a replica and three sentinels, as
real processes in a temp dir, with a forced failover (``SENTINEL FAILOVER``) and a crash of
the primary (SIGKILL) for tests and benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

SERVICE = "tkprimary"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SentinelSet:
    """``start()``, ``failover()`` or ``kill_primary()``, ``stop()``. Sentinels take a primary
    for down after ``down_ms`` of silence (production default 30 s; here short)."""

    def __init__(self, redis_server: str, redis_sentinel: str, down_ms: int = 1000) -> None:
        self.server_bin, self.sentinel_bin = redis_server, redis_sentinel
        self.dir = Path(tempfile.mkdtemp(prefix="tkroom-sentinel-"))
        self.down_ms = down_ms
        self.data_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def _spawn(self, port: int, args: list[str]) -> None:
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)

    def _data(self, port: int, replica_of: int | None) -> None:
        d = self.dir / str(port)
        d.mkdir(exist_ok=True)
        args = [self.server_bin, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
                "--save", "", "--appendonly", "no"]
        if replica_of:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._spawn(port, args)

    def start(self, wait: float = 60.0) -> None:
        primary, replica = self.data_ports
        self._data(primary, None)
        self._data(replica, primary)
        for port in self.sentinel_ports:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_ms}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n")
            self._spawn(port, [self.sentinel_bin, str(conf)])
        # ready: each sentinel knows the replica (in sync) and the two other sentinels
        self._until(lambda: all(self._ready(p) for p in self.sentinel_ports), wait,
                    "the Sentinel set did not come up")

    def _ready(self, port: int) -> bool:
        try:
            with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as s:
                master = s.sentinel_master(SERVICE)
                replicas = s.sentinel_slaves(SERVICE)
            return (int(master["num-other-sentinels"]) == 2 and len(replicas) >= 1
                    and all(not r["is_sdown"] and r.get("master-link-status") == "ok"
                            for r in replicas))
        except (redis.RedisError, OSError, KeyError):
            return False

    def primary_port(self, sentinel: int | None = None) -> int:
        with redis.Redis(port=sentinel or self.sentinel_ports[0], socket_timeout=1,
                         decode_responses=True) as s:
            return int(s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)[1])

    def _until(self, pred: object, wait: float, what: str) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                if pred():  # type: ignore[operator]
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(what)
            time.sleep(0.05)

    def wait_promoted(self, old: int, wait: float = 60.0) -> int:
        """Return the new primary's port once every sentinel names it and it takes writes."""
        def done() -> bool:
            ports = {self.primary_port(p) for p in self.sentinel_ports if p in self.procs}
            if len(ports) != 1 or old in ports:
                return False
            with redis.Redis(port=ports.pop(), socket_timeout=1, decode_responses=True) as r:
                return bool(r.info("replication")["role"] == "master")
        self._until(done, wait, "no new primary in time")
        return self.primary_port()

    def failover(self) -> int:
        """``SENTINEL FAILOVER``: the replica is promoted, the primary demoted (its clients
        disconnected by Sentinel). Answers the old primary's port."""
        old = self.primary_port()
        with redis.Redis(port=self.sentinel_ports[0], socket_timeout=5) as s:
            s.execute_command("SENTINEL", "FAILOVER", SERVICE)
        return old

    def kill_primary(self) -> int:
        """SIGKILL the primary (a crash): the sentinels find it down and promote the
        replica. Answers the old primary's port."""
        old = self.primary_port()
        proc = self.procs.pop(old)
        proc.kill()
        proc.wait(10)
        return old

    def restart_as_replica(self, port: int, primary: int) -> None:
        """Start a killed data node again as a replica of ``primary`` (what Sentinel makes of
        it anyway once it is back), so the set has a replica to fail over to again."""
        self._data(port, primary)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)
