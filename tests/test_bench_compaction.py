"""The board compaction benchmark still runs and keeps the module contract of
``bench/whiteboard`` (tiny sizes; no timing is asserted: speed is what the benchmark reports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import asyncio, json
from bench.whiteboard import compaction as c
c.FULL_PAGE, c.SAVES = 50, 20
print(json.dumps(c.compaction_rows(60) + asyncio.run(c.growth_rows(None))))
"""


def test_compaction_bench_rows_keep_the_contract():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)
    assert [r["unit"] for r in rows] == ["bytes", "ms", "ms", "µs", "ms"]
    assert all(isinstance(r["measure"], str) and r["value"] > 0 for r in rows)
    assert rows[0]["ok"] is True and rows[0]["value"] < rows[0]["baseline"]
    assert rows[3]["measure"] == "save a shape on a page of 50 (memory)"
