"""Failover: ``members`` students joined through the Python SDK (``tkroom.client.Room``) on
node A, each told of node B's URL (``signal_urls``, what ``getconfig`` lists); a teacher on
node B. Node A is killed with SIGKILL; measured per member, from the kill to the SDK's
``room-reconnected`` (it walked to B and its session resumed there). Afterwards the teacher
must count every member in the class, and a chat from the teacher must reach all of them.
The SDK's reconnection settings are its defaults (backoff from 0.2 s)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.cluster.nodes import Cluster
from bench.signal.__main__ import percentile
from tkroom.client import Event, Room


async def _join(cluster: Cluster, node: int, userid: str, role: int, others: tuple[str, ...],
                sem: asyncio.Semaphore) -> tuple[Room, list[str]]:
    room = Room()
    room.init("bench", request_timeout=60.0, signal_urls=others)
    heard: list[str] = []
    room.on("room-text-message", lambda e: heard.append(e["message"]))

    async def ticket() -> str:
        return cluster.ticket(userid, role)

    async with sem:
        await room.joinroomEx(cluster.urls[node], ticket)
    return room, heard


async def run(redis_url: str, members: int, wait: float = 120.0) -> dict[str, Any]:
    """Kill node A under ``members`` SDK clients; per-member seconds until resumed on B."""
    cluster = Cluster(redis_url)
    rooms: list[tuple[Room, list[str]]] = []
    joined: list[Room] = []  # left at the end, whatever happened
    out: dict[str, Any] = {"members": members, "loadavg_before": os.getloadavg()[0]}
    try:
        cpus = os.cpu_count() or 1
        cluster.start([0 if cpus > 1 else None, 1 if cpus > 1 else None])
        b = cluster.urls[1]
        sem = asyncio.Semaphore(50)
        teacher, _ = await _join(cluster, 1, "teacher", 0, (), sem)
        joined.append(teacher)
        rooms = list(await asyncio.gather(*(
            _join(cluster, 0, f"s{i}", 2, (b,), sem) for i in range(members))))
        joined += [r for r, _ in rooms]
        back: list[float] = [0.0] * members
        resumed: list[bool] = [False] * members
        everyone = asyncio.Event()
        left = [members]

        def on_back(i: int) -> Callable[[Event], None]:
            def cb(ev: Event) -> None:
                if back[i]:
                    return
                back[i] = time.monotonic()
                resumed[i] = bool(ev.get("resumed"))
                left[0] -= 1
                if not left[0]:
                    everyone.set()
            return cb

        for i, (room, _) in enumerate(rooms):
            room.on("room-reconnected", on_back(i))
        assert await teacher.getRoomUserNum() == members + 1
        killed = time.monotonic()
        cluster.kill(0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), wait)
        times = sorted(t - killed for t in back if t)
        out.update(back=len(times), resumed=sum(resumed), p50_s=percentile(times, 0.5),
                   p99_s=percentile(times, 0.99), max_s=times[-1] if times else float("nan"))
        out["counted_after"] = await teacher.getRoomUserNum()
        reached = asyncio.Event()
        count = [0]

        def on_chat(ev: Event) -> None:
            if ev["message"] == "after failover":
                count[0] += 1
                if count[0] == members:
                    reached.set()

        for room, _ in rooms:
            room.on("room-text-message", on_chat)
        await teacher.sendMessage("after failover")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reached.wait(), 30)
        out["chat_reached"] = sum("after failover" in h for _, h in rooms)
        out["loadavg_after"] = os.getloadavg()[0]
        return out
    finally:
        async def leave(room: Room) -> None:
            try:
                await asyncio.wait_for(room.leaveroom(), 10)
            except Exception as exc:
                print(f"leaving: {exc!r}", file=sys.stderr)
        await asyncio.gather(*(leave(r) for r in joined))
        cluster.stop()
