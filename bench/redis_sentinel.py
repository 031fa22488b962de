"""The pause a Redis Sentinel failover causes in a class: ``python -m bench.redis_sentinel
[--tries N]`` (a table, and bench/results/redis_sentinel-<time>.json).

A primary, a replica and three sentinels on 127.0.0.1 (``tests/redis_sentinel_proc.py``,
``down-after-milliseconds 1000``); two signalling nodes in this process on
``redis+sentinel://`` with ``wait_replicas=1`` and production heartbeat (1 s). A teacher on node
A chats without pause (each chat after the previous one's answer); a student on node B records
when each chat arrives. Measured per try, from the failover's start: ``pause_s``, the longest
time in the next 20 s during which no chat arrived at B. The baseline is the same longest
silence over 20 s without a failover, in the same run. ``no_save_s``: the same for saved
messages the teacher saves every 50 ms (acknowledged only once the replica has them). Modes: ``SENTINEL FAILOVER`` and SIGKILL
of the primary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import statistics
import time
from pathlib import Path

from tests.redis_sentinel_proc import SentinelSet

from bench.redis_restart import SECRET, SERIAL, Directory
from tkroom import tickets
from tkroom.client import Room
from tkroom.directory import RoomInfo
from tkroom.signal.server import SignalServer
from tkroom.state.redis import RedisState

WINDOW_S = 20.0


async def _member(url: str, userid: str, role: int) -> tuple[Room, list[float]]:
    room = Room()
    room.init("bench", request_timeout=30.0)
    heard: list[float] = []
    room.on("room-text-message", lambda e: heard.append(time.monotonic()))

    async def ticket() -> str:
        return tickets.issue(SECRET, tickets.Identity(SERIAL, userid, role, userid), time.time())

    await room.joinroomEx(url, ticket)
    return room, heard


def _longest_silence(start: float, arrivals: list[float], end: float) -> float:
    points = [start, *(a for a in arrivals if start <= a <= end), end]
    return max(b - a for a, b in zip(points, points[1:], strict=False))


async def run(mode: str) -> tuple[float, float]:
    """One try: the longest time without a chat arriving at B, and without a save
    acknowledged, in the window after ``mode`` (or none: baseline)."""
    redis = SentinelSet(shutil.which("redis-server") or "redis-server",
                        shutil.which("redis-sentinel") or "redis-sentinel")
    await asyncio.to_thread(redis.start)
    prefix = f"bs{secrets.token_hex(3)}"
    directory = Directory(RoomInfo(SERIAL, 1, maxusers=0, bigroomthreshold=0))
    nodes: list[SignalServer] = []
    rooms: list[Room] = []
    stop = asyncio.Event()
    try:
        for _ in range(2):
            state = RedisState(redis.url, prefix=prefix, wait_replicas=1)
            await state.start()
            node = SignalServer("127.0.0.1", 0, directory, state, SECRET)
            await node.start()
            nodes.append(node)
        teacher, _ = await _member(nodes[0].url, "t", 0)
        student, heard = await _member(nodes[1].url, "s", 2)
        rooms = [teacher, student]

        async def chat() -> None:
            i = 0
            while not stop.is_set() and i < 100000:
                i += 1
                try:
                    await teacher.sendMessage(f"c{i}")
                except Exception:
                    await asyncio.sleep(0.05)

        saved: list[float] = []

        async def save() -> None:
            i = 0
            while not stop.is_set() and i < 100000:
                i += 1
                try:
                    await teacher.pubMsg(name="note", id=f"n{i % 50}", save=True, data={})
                    saved.append(time.monotonic())
                except Exception:
                    pass
                await asyncio.sleep(0.05)

        sender = asyncio.gather(chat(), save())
        await asyncio.sleep(1.0)
        start = time.monotonic()
        if mode == "failover":
            old = await asyncio.to_thread(redis.failover)
        elif mode == "kill":
            old = await asyncio.to_thread(redis.kill_primary)
        if mode != "baseline":
            new = await asyncio.to_thread(redis.wait_promoted, old)
            if mode == "kill":
                redis.restart_as_replica(old, new)
        await asyncio.sleep(max(0.0, start + WINDOW_S - time.monotonic()))
        stop.set()
        await asyncio.wait_for(sender, 60)
        return (_longest_silence(start, heard, start + WINDOW_S),
                _longest_silence(start, saved, start + WINDOW_S))
    finally:
        for room in rooms:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(room.leaveroom(), 10)
        for node in nodes:
            await node.stop()
            await node.state.stop()
        await asyncio.to_thread(redis.stop)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tries", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    bases = [asyncio.run(run("baseline")) for _ in range(max(1, args.tries // 2))]
    base = max(b[0] for b in bases)
    base_save = max(b[1] for b in bases)
    rows = []
    for mode in ("failover", "kill"):
        tries = [asyncio.run(run(mode)) for _ in range(args.tries)]
        pauses = [p for p, _ in tries]
        saves = [q for _, q in tries]
        rows.append({"mode": "SENTINEL FAILOVER" if mode == "failover" else "kill -9 primary",
                     "tries": args.tries, "pause_p50_s": round(statistics.median(pauses), 3),
                     "pause_max_s": round(max(pauses), 3), "baseline_silence_s": round(base, 3),
                     "ratio_max_to_baseline": round(max(pauses) / base, 1) if base else None,
                     "no_save_p50_s": round(statistics.median(saves), 3),
                     "no_save_max_s": round(max(saves), 3),
                     "baseline_no_save_s": round(base_save, 3),
                     "pauses_s": [round(p, 3) for p in pauses],
                     "no_save_s": [round(q, 3) for q in saves]})
    keys = [k for k in rows[0] if k not in ("pauses_s", "no_save_s")]
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))
    dest = Path(__file__).parent / "results" / \
        f"redis_sentinel-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps({"window_s": WINDOW_S, "results": rows}, indent=1))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
