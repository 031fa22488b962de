"""``python -m bench.cluster``: one class over a cluster of nodes (issue 12's benchmark row).

* **scale** — the same class size per node on one node, then split over two nodes (each
  pinned to its own core): chat p99 and deliveries/s of each node of the two beside the single
  node's, in the same run (floor: within 20 %, i.e. p99 ≤ 1.2× and deliveries/s ≥ 0.8×).
  ``--members`` is the class size *per node* (the issue: 3000, i.e. 6000 over two nodes).
* **failover** — ``--failover-members`` SDK clients on node A, kill -9 of A, seconds until
  every one has resumed on node B through the SDK's URL walking, p50/p99 (floor: p99 ≤ 5 s).
* **janus** — a class's Janus is killed under a teacher's camera and
  ``--janus-subscribers`` players, ``--janus-tries`` times on one node (the baseline) and on
  two nodes over Redis: seconds until every node is on the other Janus (``agreed``) and until
  every subscriber decodes frames again (``flowing``), p50 and max (``bench/cluster/janus.py``).
  It needs root (a network namespace), Janus and aiortc: the default run includes it when they
  are there and otherwise prints a "not run" row saying what is missing.

Scale and failover run on a private ``redis-server`` on a Unix socket in a temp dir, no
persistence; their nodes are ``tkroom`` processes (``bench/cluster/nodes.py``). The Janus part
has its own Redis and runs its nodes in this process, inside the namespace. Prints one table
(measure, value, baseline, ratio, floor, ok) and writes JSON
(``bench/results/cluster-<time>.json`` unless ``--out``). Exit status 1 when a part failed to
run (or was asked for with ``--only`` and cannot run here), not when a floor is missed.
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
PARTS = ("scale", "failover", "janus")


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


def janus_rows(j: dict[str, Any]) -> list[dict[str, Any]]:
    """Agreed and flowing, p50 and max, one node then two nodes (baseline: one node)."""
    tries = j["tries"]
    head = f"Janus kill, {j['subscribers']} subscribers, {tries} tr{'y' if tries == 1 else 'ies'}"
    rows = []
    for key, what in (("agreed", "every node on the other Janus"),
                      ("flowing", "frames flowing again at every subscriber")):
        for stat in ("p50", "max"):
            one, two = j["one node"][f"{key}_{stat}_s"], j["two nodes"][f"{key}_{stat}_s"]
            rows.append(row(f"{head}, one node: kill to {what}, {stat}", one, "s"))
            rows.append(row(f"{head}, two nodes: kill to {what}, {stat} (baseline: one node)",
                            two, "s", baseline=one))
    return rows


def janus_skipped(reason: str) -> dict[str, Any]:
    return row(f"Janus kill: not run ({reason})", math.nan, "", skipped=reason)


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


def main(argv: list[str] | None = None) -> int:
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
    p.add_argument("--janus-tries", type=int, default=3,
                   help="janus: Janus kills per configuration (one node, two nodes)")
    p.add_argument("--janus-subscribers", type=int, default=4,
                   help="janus: members playing the teacher's camera (at most 20: they all "
                   "decode in this process)")
    p.add_argument("--only", nargs="+", choices=PARTS,
                   help="the parts to run (default: all; janus only where it can run)")
    p.add_argument("--out", type=Path, help="the JSON file (default bench/results/cluster-*)")
    args = p.parse_args(argv)
    if not 1 <= args.janus_subscribers <= 20 or args.janus_tries < 1:
        p.error("--janus-subscribers must be 1 to 20 and --janus-tries at least 1")
    asked = args.only is not None
    args.only = args.only or list(PARTS)
    if shutil.which("redis-server") is None:
        sys.exit("needs redis-server (scripts/install-system-deps)")
    started = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    rows: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    failed = False
    if {"scale", "failover"} & set(args.only):
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
    if "janus" in args.only:
        from bench.cluster import janus  # its media imports only when it runs

        reason = janus.missing()
        if reason:
            rows.append(janus_skipped(reason))
            failed = failed or asked
        else:
            try:
                raw["janus"] = janus.measure(args.janus_tries, args.janus_subscribers)
                rows += janus_rows(raw["janus"])
            except Exception:
                traceback.print_exc()
                failed = True
    where = ("nodes pinned to cores 0 and 1; the load generators, this process and Redis share "
             "them" if {"scale", "failover"} & set(args.only) else "the Janus part's nodes, "
             "clients and Janus servers share them")
    print(f"cores: {os.cpu_count()} ({where}); load avg now {os.getloadavg()[0]:.1f}")
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
