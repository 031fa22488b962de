"""The signalling benchmark still runs end to end (tiny sizes; no timing is asserted here:
speed is what ``python -m bench.signal`` reports, not what a test checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_signal_runs_and_every_message_arrives(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.signal", "--only", "tkroom", "--sizes", "30", "--chats", "3",
         "--rate", "20", "--pubs", "10", "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = tmp_path.glob("signal-*.json")
    row = json.loads(result.read_text())["rows"][0]
    assert row["server"] == "tkroom" and row["joined"] == 30
    assert row["chat_received"] == row["chat_expected"] == 30 * 3
    assert row["pub_delivered"] == row["pub_expected"] == 30 * 10
    assert row["deliveries_per_s"] > 0 and row["chat_p99_ms"] >= row["chat_p50_ms"] > 0
    assert "| tkroom | 30 |" in done.stdout
