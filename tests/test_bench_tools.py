"""The tools benchmark still runs end to end (tiny sizes; no timing is asserted here: speed is
what ``python -m bench.tools`` reports, not what a test checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_tools_runs_and_every_tally_is_exact(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.tools", "--students", "12", "--rounds", "2", "--chats", "3",
         "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert all({"measure", "value", "unit", "baseline"} <= r.keys() for r in rows)
    p99 = next(r for r in rows if "p99" in r["measure"])
    d = p99["detail"]
    assert d["exact"] is True and d["refused"] == [] and d["complete_rounds"] == 2
    assert d["chat_receipts"] == d["chat_expected"] == 2 * 3 * 12
    assert p99["value"] > 0 and p99["baseline"] > 0 and isinstance(p99["ok"], bool)
    assert "| measure | value | baseline | ratio | floor | ok |" in done.stdout
