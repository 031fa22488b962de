"""``python -m bench.network``: every measurement of this package in one run (needs root for
the network namespace, Janus and coturn). Prints a table; writes JSON to
``bench/results/network-<time>.json``. ``--only NAME`` runs one measurement."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.network.env import NetworkEnv
from bench.network.registry import MEASUREMENTS
from tkroom.media.netns import NetNamespace

HERE = Path(__file__).parent
RESULTS = HERE.parent / "results"
INFRASTRUCTURE = {"__main__", "env", "registry"}


def discover() -> None:
    """Import every measurement module of the package (they register themselves)."""
    for mod in pkgutil.iter_modules([str(HERE)]):
        if mod.name not in INFRASTRUCTURE:
            importlib.import_module(f"bench.network.{mod.name}")


async def run(args: argparse.Namespace, ns: NetNamespace) -> dict[str, Any]:
    env = NetworkEnv(ns)
    await env.start()
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "platform": platform.platform()}, "rows": []}
    try:
        for m in sorted(MEASUREMENTS, key=lambda m: (m.order, m.name)):
            if args.only and m.name not in args.only:
                continue
            print(f"{m.name} ...", file=sys.stderr, flush=True)
            out["rows"] += await m.run(env, args.tries)
    finally:
        await env.stop()
    return out


def _fmt(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["row | p50 ms | p95 ms | vs direct (p50/p95) | floor"]
    for r in rows:
        ratio = (f"{r['p50_vs_direct']:.2f}x / {r['p95_vs_direct']:.2f}x"
                 if "p50_vs_direct" in r else "baseline" if "p50_ms" in r else "")
        floor = (f"{r['floor']}: {'met' if r['floor_met'] else 'NOT met'}" if "floor" in r
                 else "")
        if "p50_ms" in r:
            lines.append(f"{r['row']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {ratio} | {floor}")
        else:  # a measurement of another shape: its figures as they are
            figures = ", ".join(f"{k} {_fmt(v)}" for k, v in r.items()
                                if k not in ("row", "floor", "floor_met") and
                                not isinstance(v, list | dict))
            lines.append(f"{r['row']} | {figures} | {floor}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.network", description=__doc__)
    p.add_argument("--tries", type=int, default=20, help="tries per row (default 20)")
    p.add_argument("--only", action="append", help="run only this measurement (repeatable)")
    p.add_argument("--json", type=Path, help="where to write the JSON (default bench/results/)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench.network needs root (it creates a network namespace)", file=sys.stderr)
        return 2
    discover()
    ns = NetNamespace.create("tkrn")
    try:
        with ns.entered():
            result = asyncio.run(run(args, ns))
    finally:
        ns.delete()
    result["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    print(table(result["rows"]))
    path = args.json or RESULTS / f"network-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"\nJSON: {path}")
    return 0 if all(r.get("floor_met", True) for r in result["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
