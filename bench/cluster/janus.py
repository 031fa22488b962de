"""Janus failover: a class's Janus dies, on one node and on two (issue 12: "time from a Janus
kill to media flowing again for all subscribers"). Needs root (a network namespace: Janus and
aiortc gather no ICE candidates on loopback), Janus with its VideoRoom plugin, aiortc and
redis-server; ``missing()`` says which of them is not there.

Each try starts two Janus servers and a class: a teacher publishing a camera and
``subscribers`` members playing it. **One node**: one node, room state in memory (the
baseline). **Two nodes**: two nodes built as ``tkroom serve`` builds them, on one private Redis
and one store, the teacher on node A and the subscribers spread over A and B. The class's Janus
is killed (SIGKILL); measured from the kill:

* ``agreed_s``: every node serving the class has left the dead server and joined the room the
  shared record names on the other one;
* ``flowing_s``: every subscriber has decoded 10 new frames (the SDK republished on
  ``mediaServerChanged`` and resubscribed on ``onAddStream``).

The nodes run in this process (their media plane is what is measured), so the whole part runs
in its own event loop with this thread inside the namespace (``measure``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.cluster.nodes import free_port
from bench.redis_restart import RedisServer
from tkroom.client import Room
from tkroom.config import Settings
from tkroom.media.janus_process import JanusSettings, janus_argv, janus_available, write_config
from tkroom.media.netns import NetNamespace
from tkroom.media.plane import MediaPlane
from tkroom.media.servers import static_name
from tkroom.node import Node
from tkroom.planes import build_node
from tkroom.state import open_state
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company

if TYPE_CHECKING:
    from tkroom.client.media import MediaClient

PASSWORDS = {"chairmanpwd": "teach1", "assistantpwd": "assist1", "patrolpwd": "patrol1",
             "confuserpwd": "stud1"}
CONFIGS = ("one node", "two nodes")


def missing() -> str | None:
    """Why this part cannot run here, or None when it can."""
    needs = []
    if os.geteuid() != 0:
        needs.append("root, for a network namespace")
    if not janus_available():
        needs.append("janus with its VideoRoom plugin")
    if not (shutil.which("ip") or os.path.exists("/usr/sbin/ip")):
        needs.append("ip, from iproute2")
    if shutil.which("redis-server") is None:
        needs.append("redis-server")
    if importlib.util.find_spec("aiortc") is None:
        needs.append("aiortc, the media extra")
    return "needs " + ", ".join(needs) if needs else None


def start_janus(workdir: Path, rtp: str) -> tuple[subprocess.Popen[bytes], JanusSettings]:
    """A Janus in the calling thread's namespace, returned once its WebSocket API answers."""
    s = JanusSettings(workdir=workdir, ice_enforce_list="v0", rtp_port_range=rtp, api_secret="")
    write_config(s)
    proc = subprocess.Popen(janus_argv(s, shutil.which("janus") or "janus"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", s.ws_port), timeout=1).close()
            return proc, s
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


async def until(cond: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)


async def one_try(tmp: Path, redis_url: str | None, n_nodes: int, subscribers: int,
                  ) -> dict[str, float]:
    """One class on ``n_nodes`` nodes (Redis state when ``redis_url``), its Janus killed."""
    from tkroom.client.media import attach  # aiortc: imported only when this part runs

    procs = [start_janus(tmp / f"j{i}", f"{30000 + 5000 * i}-{34999 + 5000 * i}") for i in (0, 1)]
    urls = [s.url for _, s in procs]
    prefix = f"b{secrets.token_hex(4)}"
    nodes: list[Node] = []
    clients: list[tuple[Room, MediaClient]] = []
    try:
        for _ in range(n_nodes):
            settings = Settings(host="127.0.0.1", port=0, signal_port=free_port(),
                                data_dir=tmp / "data", janus_urls=urls, embedded_janus=False)
            state = open_state(redis_url, prefix=prefix, heartbeat=0.2) if redis_url \
                else MemoryState()
            node = build_node(settings, state=state, web=False, courseware=False)
            await node.start()
            nodes.append(node)
        async with nodes[0].sessions() as s:
            key = (await create_company(s, "Bench School")).authkey
            await s.commit()
        now = int(time.time())
        async with httpx.AsyncClient(base_url=nodes[0].base_url, timeout=30) as http:
            serial = (await http.post("/WebAPI/roomcreate", data=dict(
                key=key, roomname="Bench", roomtype=3, starttime=now, endtime=now + 3600,
                passwordrequired=1, maxusers=subscribers + 5, **PASSWORDS))).json()["serial"]

        async def enter(node: Node, uid: str, pwd: str) -> tuple[Room, MediaClient]:
            room = Room()
            room.init("bench")
            media = attach(room)
            await room.joinroom("127.0.0.1", node.port, uid, uid, {"serial": serial,
                                                                   "password": pwd})
            clients.append((room, media))
            return room, media

        _, teacher = await enter(nodes[0], "t1", PASSWORDS["chairmanpwd"])
        await teacher.publishVideo()
        plays = []
        for i in range(subscribers):
            _, m = await enter(nodes[i % n_nodes], f"s{i}", PASSWORDS["confuserpwd"])
            await m.waitForStream("t1", "video")
            plays.append(await m.playVideo("t1"))
        await until(lambda: all(p.frames_received > 10 for p in plays), 30, "first frames")
        planes = [n.media for n in nodes]
        assert all(isinstance(p, MediaPlane) for p in planes)

        def room_server(p: Any) -> str | None:
            room = p.service.rooms.get(serial)
            return room.server.id if room is not None and room.server is not None else None

        dead = room_server(planes[0])
        assert dead is not None
        names = [static_name(u) for u in urls]
        other = names[1] if dead == names[0] else names[0]
        counts = [p.frames_received for p in plays]
        t0 = time.monotonic()
        procs[names.index(dead)][0].kill()
        await until(lambda: all(room_server(p) == other for p in planes), 30, "agreed")
        agreed = time.monotonic() - t0
        await until(lambda: all(p.frames_received > c + 10 for p, c in zip(plays, counts,
                                                                          strict=True)),
                    60, "frames again")
        return {"agreed_s": agreed, "flowing_s": time.monotonic() - t0}
    finally:
        for room, media in clients:
            await media.close()
            await room.leaveroom()
        for node in reversed(nodes):
            await asyncio.wait_for(node.stop(), 60)
        for proc, _ in procs:
            proc.kill()
            proc.wait(10)


async def _tries(redis_dir: Path, tries: int, subscribers: int) -> dict[str, list[dict[str, float]]]:
    """``tries`` rounds of one node then two nodes, on one private Redis."""
    redis = RedisServer(redis_dir, appendonly=False)
    await redis.start()
    out: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    try:
        for t in range(tries):
            for name, url, n in zip(CONFIGS, (None, redis.url), (1, 2), strict=True):
                with tempfile.TemporaryDirectory(prefix="tkroom-bench-") as tmp:
                    out[name].append(await one_try(Path(tmp), url, n, subscribers))
                print(f"janus: try {t + 1} {name}: {out[name][-1]}", flush=True)
    finally:
        await redis.kill()
    return out


def measure(tries: int, subscribers: int) -> dict[str, Any]:
    """Run the tries in a fresh namespace and event loop; the tries and, per configuration,
    ``agreed_p50_s``, ``agreed_max_s``, ``flowing_p50_s``, ``flowing_max_s``."""
    out: dict[str, Any] = {"tries": tries, "subscribers": subscribers,
                           "loadavg_before": os.getloadavg()[0]}
    log = logging.getLogger("tkroom")
    level = log.level
    log.setLevel(logging.ERROR)  # the killed Janus's errors are the point, not news
    ns = NetNamespace.create()
    try:
        with tempfile.TemporaryDirectory(prefix="tkroom-bench-janus-redis-") as rdir, \
                ns.entered():
            runs = asyncio.run(_tries(Path(rdir), tries, subscribers))
    finally:
        ns.delete()
        log.setLevel(level)
    out["loadavg_after"] = os.getloadavg()[0]
    out["runs"] = runs
    for name, results in runs.items():
        a = [r["agreed_s"] for r in results]
        f = [r["flowing_s"] for r in results]
        out[name] = {"agreed_p50_s": statistics.median(a), "agreed_max_s": max(a),
                     "flowing_p50_s": statistics.median(f), "flowing_max_s": max(f)}
    return out
