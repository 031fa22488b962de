"""Redis state micro-benchmark: ``python bench/redis_state.py [REDIS_URL]`` (table + JSON).

Two ``RedisState`` "nodes" on one Redis (a private redis-server on a Unix socket unless a URL
is given): 1000 concurrent joins split over both nodes against ``maxusers=500``, then publish
to delivery latency at the other node, then publish throughput.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tkroom.rooms.model import ALL, Event, new_member
from tkroom.rooms.transitions import JoinPolicy
from tkroom.state.redis import RedisState


async def run(url: str) -> dict[str, float]:
    prefix = f"bench{secrets.token_hex(3)}"
    a, b = (RedisState(url, prefix=prefix, node=f"n{i}") for i in range(2))
    await a.start()
    await b.start()
    try:
        policy = JoinPolicy(maxusers=500)
        t0 = time.perf_counter()
        out = await asyncio.gather(*[
            (a, b)[i % 2].add_member("r", new_member(f"u{i}", 2, f"u{i}", f"s{i}", {}, 0), policy)
            for i in range(1000)])
        joins = time.perf_counter() - t0
        admitted = sum(1 for o in out if o.code == 0)
        assert admitted == 500, admitted

        sent: dict[int, float] = {}
        lat: list[float] = []
        done = asyncio.Event()

        def on_b(e: Event) -> None:
            lat.append(time.perf_counter() - sent[e.data["i"]])
            if len(lat) == 500:
                done.set()

        await b.subscribe("r", on_b)
        for i in range(500):
            sent[i] = time.perf_counter()
            await a.publish("r", Event("x", {"i": i}, ALL))
            await asyncio.sleep(0.002)
        await asyncio.wait_for(done.wait(), 30)
        lat.sort()

        got = 0
        all_in = asyncio.Event()

        def count(e: Event) -> None:
            nonlocal got
            got += 1
            if got == 5000:
                all_in.set()

        b.unsubscribe("r", on_b)
        await b.subscribe("r2", count)
        t0 = time.perf_counter()
        await asyncio.gather(*[a.publish("r2", Event("x", {"i": i}, ALL)) for i in range(5000)])
        await asyncio.wait_for(all_in.wait(), 60)
        rate = 5000 / (time.perf_counter() - t0)
    finally:
        await a.stop()
        await b.stop()
    return {"joins_1000_s": round(joins, 3), "admitted": admitted,
            "delivery_p50_ms": round(statistics.median(lat) * 1000, 3),
            "delivery_p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 3),
            "publish_per_s": round(rate)}


def main() -> None:
    if len(sys.argv) > 1:
        res = asyncio.run(run(sys.argv[1]))
    else:
        d = Path(tempfile.mkdtemp())
        sock = d / "redis.sock"
        proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", "0",
                                 "--unixsocket", str(sock), "--dir", str(d), "--save", ""],
                                stdout=subprocess.DEVNULL)
        try:
            while not sock.exists():
                time.sleep(0.02)
            res = asyncio.run(run(f"unix://{sock}"))
        finally:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(d, ignore_errors=True)
    for k, v in res.items():
        print(f"{k:<18} {v}")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
