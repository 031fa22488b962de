"""``python -m bench.cluster``: one class over a cluster of nodes on one private Redis (issue 12).

* **scale** — the same class size per node on one node, then split over two nodes (each
  pinned to its own core): chat p99 and deliveries/s of each node of the two beside the single
  node's, in the same run (floor: within 20 %, i.e. p99 ≤ 1.2× and deliveries/s ≥ 0.8×).
  ``--members`` is the class size *per node* (the issue: 3000, i.e. 6000 over two nodes).
* **failover** — ``--failover-members`` SDK clients on node A, kill -9 of A, seconds until
  every one has resumed on node B through the SDK's URL walking, p50/p99 (floor: p99 ≤ 5 s).

Redis is a private ``redis-server`` on a Unix socket in a temp dir, no persistence; the nodes
are ``tkroom`` processes (``bench/cluster/nodes.py``). Prints one table (measure, value,
baseline, ratio, floor, ok) and writes JSON (``bench/results/cluster-<time>.json`` unless
``--out``). Exit status 1 when a part failed to run, not when a floor is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.cluster import failover, scale
from bench.redis_restart import RedisServer
from bench.signal import worker
from bench.whiteboard.common import row, table

RESULTS = Path(__file__).resolve().parent.parent / "results"


def _clean(v: Any) -> Any:
    """JSON without NaN (a measure that did not come out is null)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def scale_rows(one: dict[str, Any], two: dict[str, Any]) -> list[dict[str, Any]]:
    """Each node of the two beside the single node: chat p99 and deliveries/s."""
    m = one["members_per_node"]
    base = one["per_node"][0]
    rows = [
        row(f"one node, {m} members: join storm", one["join_storm_s"], "s"),
        row(f"two nodes, {2 * m} members: join storm (baseline: one node, {m})",
            two["join_storm_s"], "s", baseline=one["join_storm_s"]),
        row(f"one node, {m} members: chat p99", base["chat_p99_ms"], "ms",
            received=base["chat_received"], expected=base["chat_expected"]),
        row(f"one node, {m} members: deliveries/s", base["deliveries_per_s"], "/s",
            received=base["pub_delivered"], expected=base["pub_expected"]),
        row(f"one node, {m} members: node CPU per delivery", base["cpu_us_per_delivery"], "µs"),
    ]
    for node in two["per_node"]:
        name = "AB"[node["node"]]
        complete = (node["chat_received"] == node["chat_expected"]
                    and node["pub_delivered"] == node["pub_expected"])
        p99, dps = node["chat_p99_ms"], node["deliveries_per_s"]
        rows.append(row(
            f"two nodes, {2 * m} members: chat p99 on node {name} ({m} members; baseline: one "
            "node)", p99, "ms", baseline=base["chat_p99_ms"], floor="≤ 1.2× one node's",
            ok=complete and p99 <= 1.2 * base["chat_p99_ms"],
            received=node["chat_received"], expected=node["chat_expected"]))
        rows.append(row(
            f"two nodes, {2 * m} members: deliveries/s on node {name} (baseline: one node)",
            dps, "/s", baseline=base["deliveries_per_s"], floor="≥ 0.8× one node's",
            ok=complete and dps >= 0.8 * base["deliveries_per_s"],
            received=node["pub_delivered"], expected=node["pub_expected"]))
        rows.append(row(
            f"two nodes, {2 * m} members: node {name} CPU per delivery (baseline: one node)",
            node["cpu_us_per_delivery"], "µs", baseline=base["cpu_us_per_delivery"]))
    rows.append(row(
        f"two nodes, {2 * m} members: deliveries/s of both nodes together (baseline: one node)",
        sum(n["deliveries_per_s"] for n in two["per_node"]), "/s",
        baseline=base["deliveries_per_s"]))
    if "redis_cpu_us_per_delivery" in two:
        rows.append(row(f"two nodes, {2 * m} members: Redis CPU per delivery (baseline: one "
                        "node)", two["redis_cpu_us_per_delivery"], "µs",
                        baseline=one.get("redis_cpu_us_per_delivery")))
    return rows


def failover_rows(f: dict[str, Any]) -> list[dict[str, Any]]:
    n = f["members"]
    everyone = f["back"] == f["resumed"] == f["counted_after"] - 1 == f["chat_reached"] == n
    return [
        row(f"failover, {n} members: kill -9 to resumed on the other node, p50", f["p50_s"], "s"),
        row(f"failover, {n} members: kill -9 to resumed on the other node, p99", f["p99_s"], "s",
            floor="≤ 5 s", ok=everyone and f["p99_s"] <= 5.0, max_s=f["max_s"]),
        row(f"failover, {n} members: resumed (not joined afresh) / counted by the teacher / "
            "reached by a chat after", f["resumed"], "members", floor=f"all {n}", ok=everyone,
            back=f["back"], counted=f["counted_after"] - 1, chat_reached=f["chat_reached"]),
    ]


async def amain(args: argparse.Namespace, redis_url: str, redis_pid: int | None) -> tuple[list[dict[str, Any]],
                                                                   dict[str, Any], bool]:
    rows: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    failed = False
    if "scale" in args.only:
        try:
            opts = dict(chats=args.chats, rate=args.rate, pubs=args.pubs, window=args.window,
                        workers=args.workers, parallel=args.parallel, redis_pid=redis_pid)
            raw["one_node"] = await scale.phase(redis_url, 1, args.members, **opts)
            raw["two_nodes"] = await scale.phase(redis_url, 2, args.members, **opts)
            rows += scale_rows(raw["one_node"], raw["two_nodes"])
        except Exception:
            traceback.print_exc()
            failed = True
    if "failover" in args.only:
        try:
            raw["failover"] = await failover.run(redis_url, args.failover_members)
            rows += failover_rows(raw["failover"])
        except Exception:
            traceback.print_exc()
            failed = True
    return rows, raw, failed


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=3000,
                   help="scale: class size per node (one node: this; two nodes: twice this)")
    p.add_argument("--failover-members", type=int, default=500)
    p.add_argument("--chats", type=int, default=50)
    p.add_argument("--rate", type=float, default=5.0, help="chat messages per second")
    p.add_argument("--pubs", type=int, default=200)
    p.add_argument("--window", type=int, default=16, help="pubMsgs in flight")
    p.add_argument("--workers", type=int, default=1, help="load-generator processes per node")
    p.add_argument("--parallel", type=int, default=200, help="connections opening at once")
    p.add_argument("--only", nargs="+", choices=["scale", "failover"],
                   default=["scale", "failover"])
    p.add_argument("--out", type=Path, help="the JSON file (default bench/results/cluster-*)")
    args = p.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("needs redis-server (scripts/install-system-deps)")
    started = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    tmp = Path(tempfile.mkdtemp(prefix="tkroom-bench-cluster-redis-"))
    redis = RedisServer(tmp, appendonly=False)

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
        await redis.start()
        try:
            return await amain(args, redis.url, redis.proc.pid if redis.proc else None)
        finally:
            await redis.kill()

    try:
        rows, raw, failed = worker.run(go())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"cores: {os.cpu_count()} (nodes pinned to cores 0 and 1; the load generators, this "
          f"process and Redis share them); load avg now {os.getloadavg()[0]:.1f}")
    print(table(rows))
    out = args.out or RESULTS / f"cluster-{started}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_clean({
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpus": os.cpu_count(), "python": sys.version, "machine": platform.platform(),
        "rows": rows, "raw": raw}), indent=1))
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
