"""The whiteboard benchmark still runs end to end (tiny sizes; no timing is asserted here:
speed is what ``python -m bench.whiteboard`` reports, not what a test checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_whiteboard_runs_and_every_message_arrives(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.whiteboard", "--only", "fanout", "longclass",
         "--sizes", "12", "--messages", "6", "--members", "8", "--shapes", "40", "--strokes", "3",
         "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert all({"measure", "value", "unit", "module"} <= r.keys() for r in rows)
    by = {r["measure"]: r for r in rows}

    seg = by["stroke segment p99, 12 members, best of 3 (baseline: chat)"]
    # three blocks of 6 chats and 6 segments, each to all 12 members
    assert seg["detail"]["received"] == seg["detail"]["expected"] == {"chat": 216, "segment": 216}
    assert seg["value"] > 0 and seg["baseline"] > 0 and isinstance(seg["ok"], bool)

    # 5 warm-up strokes, 3 blocks of 3 at the start and at the end, 40 drawn: all in the join
    shapes = by["late joiner: shapes in the join answer"]
    assert shapes["value"] == 63 and shapes["ok"] is True
    joined = by["late joiner: join answer with 63 shapes (baseline: at the start)"]
    assert joined["value"] > joined["baseline"] + 63 * 100  # every shape is in it
    for kind in ("stroke segment", "saved shape"):
        r = by[f"long class: {kind} p99 with 63 shapes on the page, best of 3 (baseline: the "
               "same at the start)"]
        assert r["detail"]["received"] == [r["detail"]["expected"]] * 2
        assert r["value"] > 0 and r["baseline"] > 0
    cpu = by["long class: node CPU per stroke message with 63 shapes on the page (baseline: at "
             "the start)"]
    assert cpu["value"] > 0 and cpu["baseline"] > 0

    assert "| measure | value | baseline | ratio | floor | ok |" in done.stdout
    assert all(f"| {m} |" in done.stdout for m in by)
