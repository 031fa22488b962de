"""``python -m bench.signal``: the signalling benchmark, tkroom beside Node.js socket.io.

For each server and room size: a join storm (every member connects and joins at once, time
until the last ack), chat fan-out latency (a teacher sends ``--chats`` messages at ``--rate``
per second to ``__all``; latency from send to receipt at every member, p50/p99), and pubMsg
throughput (``--pubs`` messages to ``__all`` as fast as the acks allow; deliveries per second).
The server runs pinned to one core, the load generator (this process and its workers) to the
other. Prints a table and writes JSON to ``bench/results/signal-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.signal import worker
from bench.signal.dialects import DIALECTS, Counters
from bench.signal.rawws import RawWS
from bench.signal.targets import NodeSocketIO, Target

RESULTS = Path(__file__).resolve().parent.parent / "results"


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


class Workers:
    """The load-generator processes; every command goes to all and waits for all answers."""

    def __init__(self, n: int, dialect: str, host: str, port: int, parallel: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes = []
        self.procs = []
        for _ in range(n):
            a, b = ctx.Pipe()
            p = ctx.Process(target=worker.main, args=(b, dialect, host, port, parallel), daemon=True)
            p.start()
            self.pipes.append(a)
            self.procs.append(p)

    async def ask(self, cmds: list[tuple[str, Any]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        for pipe, cmd in zip(self.pipes, cmds, strict=True):
            pipe.send(cmd)
        return list(await asyncio.gather(*(loop.run_in_executor(None, p.recv) for p in self.pipes)))

    async def all(self, cmd: str, arg: Any = None) -> list[Any]:
        return await self.ask([(cmd, arg)] * len(self.pipes))

    def close(self) -> None:
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()


async def run_one(target: Target, members: int, args: argparse.Namespace) -> dict[str, Any]:
    """One server, one room size: join storm, chat latency, pubMsg throughput."""
    out: dict[str, Any] = {"server": target.name, "members": members,
                           "loadavg_before": os.getloadavg()[0]}
    sender_cred, creds = target.credentials(members)
    n_w = max(1, min(args.workers, members))
    shares = [creds[i::n_w] for i in range(n_w)]
    workers = Workers(n_w, target.dialect, target.host, target.port, max(1, args.parallel // n_w))
    try:
        t0 = time.monotonic()
        joined = await workers.ask([("join", s) for s in shares])
        out["join_storm_s"] = max(j["t"] for j in joined) - t0
        out["joined"] = sum(j["ok"] for j in joined)
        out["join_errors"] = [e for j in joined for e in j["errors"]][:3]
        if out["joined"] < members:
            print(f"  {members - out['joined']} joins failed: {out['join_errors']}", file=sys.stderr)

        counters = Counters()
        dialect = DIALECTS[target.dialect](counters)
        sender = await RawWS.open(target.host, target.port, dialect.path, dialect.on_text)
        await dialect.join(sender, sender_cred)
        receivers = [len(s) for s in shares]

        # chat fan-out latency
        await workers.ask([("arm", ("chat", r * args.chats)) for r in receivers])
        for k in range(args.chats):
            ack = dialect.request(sender, "sendMessage",
                                  {"toID": "__all", "message": {"t0": time.monotonic_ns(), "k": k}})
            await asyncio.sleep(1 / args.rate)
            if k == 0:
                first = await asyncio.wait_for(ack, 10)
                out["chat_first_ack"] = first if isinstance(first, list) else first.get("code")
        got = await workers.all("wait", 30)
        lat = sorted(x for g in got for x in g["latencies"])
        out["chat_expected"] = sum(receivers) * args.chats
        out["chat_received"] = len(lat)
        out["chat_p50_ms"] = percentile(lat, 0.50)
        out["chat_p99_ms"] = percentile(lat, 0.99)
        out["chat_max_ms"] = lat[-1] if lat else float("nan")

        # pubMsg throughput
        await workers.ask([("arm", ("pub", r * args.pubs)) for r in receivers])
        t_start = time.monotonic()
        window: list[asyncio.Future[Any]] = []
        for k in range(args.pubs):
            window.append(dialect.request(sender, "pubMsg", {
                "name": "bench", "id": f"bench{k % 8}", "toID": "__all", "save": False,
                "data": {"k": k}}))
            if len(window) >= args.window:
                await asyncio.wait_for(window.pop(0), 30)
        await asyncio.wait_for(asyncio.gather(*window), 60)
        got = await workers.all("wait", 60)
        delivered = sum(g["pub"] for g in got)
        last = max(g["last"] for g in got)
        out["pub_expected"] = sum(receivers) * args.pubs
        out["pub_delivered"] = delivered
        out["deliveries_per_s"] = delivered / max(1e-9, last - t_start)
        sender.close()
        out["loadavg_after"] = os.getloadavg()[0]
    finally:
        await workers.all("close")
        workers.close()
    return out


def our_target(profile: Path | None) -> Target:
    from bench.signal.ours import TkroomNode

    return TkroomNode(profile)


def profile_summary(path: Path, top: int = 30) -> str:
    """The functions where the server spent its own time (cProfile tottime), as text."""
    import io
    import pstats

    out = io.StringIO()
    pstats.Stats(str(path), stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| server | members | join storm s | chat p50 ms | chat p99 ms | chat recv | "
            "deliveries/s | load avg |")
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['server']} | {r['members']} | {r.get('join_storm_s', float('nan')):.2f} | "
            f"{r.get('chat_p50_ms', float('nan')):.1f} | {r.get('chat_p99_ms', float('nan')):.1f} | "
            f"{r.get('chat_received', 0)}/{r.get('chat_expected', 0)} | "
            f"{r.get('deliveries_per_s', 0):,.0f} | {r['loadavg_before']:.1f} |"
        )
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ours / theirs for every room size both servers ran."""
    by = {(r["server"], r["members"]): r for r in rows}
    out = []
    for (server, members), r in by.items():
        theirs = by.get(("node socket.io", members))
        if server == "node socket.io" or theirs is None:
            continue
        out.append({
            "members": members,
            "join_storm": r["join_storm_s"] / theirs["join_storm_s"],
            "chat_p99": r["chat_p99_ms"] / theirs["chat_p99_ms"],
            "deliveries_per_s": r["deliveries_per_s"] / theirs["deliveries_per_s"],
        })
    return out


async def amain(args: argparse.Namespace) -> int:
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[0] if len(cpus) > 1 else None
    if len(cpus) > 1:
        os.sched_setaffinity(0, set(cpus[1:]))  # workers inherit it
    out_dir: Path = args.out
    stamp = time.strftime("%Y%m%dT%H%M%S")
    prof = out_dir / f"signal-{stamp}.prof" if args.profile else None
    targets: list[Target] = []
    if args.only in (None, "tkroom"):
        targets.append(our_target(prof))
    if args.only in (None, "socket.io"):
        targets.append(NodeSocketIO())
    rows = []
    for size in args.sizes:
        for target in targets:
            try:
                target.start(server_cpu)
                print(f"{target.name}: {size} members ...", file=sys.stderr, flush=True)
                rows.append(await run_one(target, size, args))
            finally:
                target.stop()
    print(table(rows))
    rs = ratios(rows)
    for r in rs:
        print(f"ours/theirs at {r['members']}: join storm {r['join_storm']:.2f}x time, "
              f"chat p99 {r['chat_p99']:.2f}x, deliveries/s {r['deliveries_per_s']:.2f}x")
    if prof is not None and prof.exists():
        summary = profile_summary(prof)
        prof.with_suffix(".txt").write_text(summary)
        print(f"profile of the last tkroom run: {prof.with_suffix('.txt')}")
    path = out_dir / f"signal-{stamp}.json"
    path.write_text(json.dumps({
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "cpus": cpus, "python": sys.version, "machine": platform.platform(),
        "rows": rows, "ours_over_theirs": rs}, indent=2))
    print(f"wrote {path}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.signal", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    p.add_argument("--chats", type=int, default=50)
    p.add_argument("--rate", type=float, default=5.0, help="chat messages per second")
    p.add_argument("--pubs", type=int, default=200)
    p.add_argument("--window", type=int, default=16, help="pubMsgs in flight")
    p.add_argument("--workers", type=int, default=2, help="load-generator processes")
    p.add_argument("--parallel", type=int, default=200, help="connections opening at once")
    p.add_argument("--only", choices=["tkroom", "socket.io"])
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    p.add_argument("--profile", action="store_true",
                   help="run the tkroom node under cProfile (slower) and summarise it")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return worker.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
