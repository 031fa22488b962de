"""Publish -> first decoded frame at a subscriber, direct and through TURN over UDP, TCP and
TLS (both the publisher and the subscriber relayed, ``iceTransportPolicy: relay``).

Floors (issue 10): direct p95 <= 500 ms, TURN/TLS p95 <= 2 s. Each TURN row is also given as
a ratio to the direct row of the same run.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from bench.media.__main__ import pct
from bench.network.env import NetworkEnv
from bench.network.registry import measurement

PATHS = (("direct UDP", None, 0.5), ("TURN/UDP", "udp", None), ("TURN/TCP", "tcp", None),
         ("TURN/TLS", "tls", 2.0))


async def first_frames(env: NetworkEnv, transport: str | None, tries: int) -> list[float]:
    assert env.local is not None
    loop = asyncio.get_running_loop()
    times = []
    for i in range(tries):
        serial = f"ff-{transport}-{i}"
        pub, sub = env.user(serial, f"p{i}", transport), env.user(serial, f"s{i}", transport)
        t0 = loop.time()
        await pub.publishVideo()
        await sub.waitForStream(f"p{i}", within=20)
        rs = await sub.playVideo(f"p{i}")
        times.append(await asyncio.wait_for(rs.first_frame, 20) - t0)
        kinds = nominated(rs.pc) | nominated(pub.local[("video", "default")].pc)
        expected = {"host"} if transport is None else {"relay"}
        if kinds != expected:
            raise RuntimeError(f"{transport or 'direct'}: ICE nominated {kinds}, not {expected}")
        await env.local.drop(sub, pub)
    return times


def nominated(pc: Any) -> set[str]:
    """The local candidate types ICE nominated (aioice's pairs): what the row measured."""
    return {pair.local_candidate.type for t in pc.getTransceivers()
            for pair in t.receiver.transport.transport._connection._nominated.values()}


@measurement("first frame", order=10)
async def run(env: NetworkEnv, tries: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    direct = None
    for name, transport, floor in PATHS:
        times = await first_frames(env, transport, tries)
        p50, p95 = statistics.median(times), pct(times, 0.95)
        row: dict[str, Any] = {"row": f"first frame, {name}", "tries": tries, "p50_ms": p50 * 1000,
                               "p95_ms": p95 * 1000, "max_ms": max(times) * 1000,
                               "all_ms": [t * 1000 for t in times]}
        if direct is None:
            direct = row
        else:
            row["p50_vs_direct"] = p50 * 1000 / direct["p50_ms"]
            row["p95_vs_direct"] = p95 * 1000 / direct["p95_ms"]
        if floor is not None:
            row["floor"] = f"p95 <= {floor * 1000:.0f} ms"
            row["floor_met"] = p95 <= floor
        rows.append(row)
    return rows
