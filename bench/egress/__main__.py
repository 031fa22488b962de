"""``python -m bench.egress``: recordings and live streams (issue 14), one table.

Runs whichever of the modules ``recording`` (the compositor on a synthetic lesson: processing
time as a ratio of the lesson's length, CPU, disk use per hour) and ``live`` (the live HLS
output) exist in this package. Each exposes ``run() -> list[dict]`` (rows: ``measure``,
``value``, ``unit``, and optionally ``baseline``, ``floor``, ``ok``); the options below reach a
module's ``run`` when it takes a parameter of that name. Prints one table (measure, value,
baseline, ratio, floor, ok) and writes JSON (``bench/egress/results.json`` unless ``--out``).
The exit status is 1 when a module failed to run, not when a floor is missed (the table says
so).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.whiteboard.common import row, table

HERE = Path(__file__).resolve().parent
MODULES = ("recording", "live")


def _load(name: str) -> Any:
    try:
        return importlib.import_module(f"bench.egress.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"bench.egress.{name}":
            return None  # that branch's module is not here (yet)
        raise


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.egress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller runs of every module")
    p.add_argument("--only", nargs="+", choices=MODULES, help="run only these modules")
    p.add_argument("--minutes", type=float, help="recording: the lesson's length (10)")
    p.add_argument("--publishers", type=int, help="recording: cameras with microphones (3)")
    p.add_argument("--out", type=Path, default=HERE / "results.json")
    args = p.parse_args()
    options = {k: v for k, v in vars(args).items() if k not in ("only", "out") and v is not None}
    rows: list[dict[str, Any]] = []
    failed = []
    started, load_before = time.time(), os.getloadavg()[0]
    for name in args.only or MODULES:
        mod = _load(name)
        if mod is None:
            continue
        params = inspect.signature(mod.run).parameters
        kwargs = {k: v for k, v in options.items() if k in params}
        print(f"== bench.egress.{name}", file=sys.stderr, flush=True)
        try:
            got = mod.run(**kwargs)
        except Exception as e:  # one module failing still leaves the others' rows
            traceback.print_exc()
            failed.append(name)
            got = [row(f"{name}: did not run ({type(e).__name__}: {e})", math.nan, "", ok=False)]
        for r in got:
            r.setdefault("module", name)
        rows += got
    print(table(rows))
    print(f"\nload average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"{os.cpu_count()} cores; {time.time() - started:.0f} s")
    args.out.write_text(json.dumps(_clean({
        "bench": "egress", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": time.time() - started, "machine": platform.platform(),
        "python": sys.version.split()[0], "cpus": os.cpu_count(),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg()[0],
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rows": rows}), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
