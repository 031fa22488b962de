"""A class's Janus dies, on one node and on two: ``python -m bench.media_cluster [--tries N]
[--subscribers N]`` (needs root for a network namespace, Janus and redis-server; a table, and
bench/results/media_cluster-<time>.json).

Each try starts two Janus servers and a class: a teacher publishing a camera and
``--subscribers`` members playing it. **One node**: one node, room state in memory (the
baseline). **Two nodes**: two nodes built as ``tkroom serve`` builds them, on one private Redis
and one store, the teacher on node A and the subscribers spread over A and B. The class's Janus
is killed (SIGKILL); measured from the kill:

* ``agreed_s``: every node serving the class has left the dead server and joined the room the
  shared record names on the other one;
* ``flowing_s``: every subscriber has decoded 10 new frames (the SDK republished on
  ``mediaServerChanged`` and resubscribed on ``onAddStream``).

Figures are p50 and max over the tries; the last column is two nodes over one node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tkroom.client import Room
from tkroom.client.media import MediaClient, attach
from tkroom.config import Settings
from tkroom.media.janus_process import JanusSettings, janus_argv, write_config
from tkroom.media.netns import NetNamespace
from tkroom.media.plane import MediaPlane
from tkroom.media.servers import static_name
from tkroom.node import Node
from tkroom.planes import build_node
from tkroom.state import open_state
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORDS = {"chairmanpwd": "teach1", "assistantpwd": "assist1", "patrolpwd": "patrol1",
             "confuserpwd": "stud1"}


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_janus(workdir: Path, rtp: str) -> tuple[subprocess.Popen[bytes], JanusSettings]:
    s = JanusSettings(workdir=workdir, ice_enforce_list="v0", rtp_port_range=rtp, api_secret="")
    write_config(s)
    proc = subprocess.Popen(janus_argv(s, shutil.which("janus") or "janus"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    import socket
    while True:
        try:
            socket.create_connection(("127.0.0.1", s.ws_port), timeout=1).close()
            return proc, s
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


async def until(cond: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)


async def one_try(tmp: Path, redis_url: str | None, n_nodes: int, subscribers: int) -> dict[str, float]:
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


async def run(args: argparse.Namespace, redis_url: str) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {"one node": [], "two nodes": []}
    for t in range(args.tries):
        for name, url, n in (("one node", None, 1), ("two nodes", redis_url, 2)):
            with tempfile.TemporaryDirectory(prefix="tkroom-bench-") as tmp:
                out[name].append(await one_try(Path(tmp), url, n, args.subscribers))
            print(f"try {t + 1} {name}: {out[name][-1]}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=3)
    ap.add_argument("--subscribers", type=int, default=4)
    args = ap.parse_args()
    args.tries = max(1, min(args.tries, 20))
    args.subscribers = max(1, min(args.subscribers, 20))
    logging.basicConfig(level=logging.ERROR)
    if not shutil.which("janus") or not shutil.which("redis-server"):
        sys.exit("needs janus and redis-server")
    ns = NetNamespace.create()
    with ExitStack() as stack:
        stack.callback(ns.delete)
        rdir = Path(tempfile.mkdtemp(prefix="tkroom-redis-"))
        stack.callback(shutil.rmtree, rdir, True)
        sock = rdir / "redis.sock"
        redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(sock),
                                  "--dir", str(rdir), "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL)
        stack.callback(redis.wait, 10)
        stack.callback(redis.terminate)
        while not sock.exists():
            time.sleep(0.02)
        with ns.entered():
            results = asyncio.run(run(args, f"unix://{sock}"))
    rows = []
    print(f"\n{'':10} {'agreed p50':>11} {'max':>7} {'flowing p50':>12} {'max':>7}")
    for name, tries in results.items():
        a = [r["agreed_s"] for r in tries]
        f = [r["flowing_s"] for r in tries]
        row = {"config": name, "agreed_p50_s": statistics.median(a), "agreed_max_s": max(a),
               "flowing_p50_s": statistics.median(f), "flowing_max_s": max(f)}
        rows.append(row)
        print(f"{name:10} {row['agreed_p50_s']:11.2f} {row['agreed_max_s']:7.2f} "
              f"{row['flowing_p50_s']:12.2f} {row['flowing_max_s']:7.2f}")
    ratio = {k: rows[1][k] / rows[0][k] if rows[0][k] else None
             for k in ("agreed_p50_s", "flowing_p50_s")}
    print(f"two nodes / one node: agreed x{ratio['agreed_p50_s']:.2f}, "
          f"flowing x{ratio['flowing_p50_s']:.2f}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"media_cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args), "rows": rows, "ratio": ratio,
                                "tries": results}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
