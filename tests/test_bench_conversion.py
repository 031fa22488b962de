"""The conversion benchmark still runs end to end (two pages each; the speed is what
``python -m bench.whiteboard.conversion`` reports, not what a test checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import need_binary

ROOT = Path(__file__).resolve().parent.parent


def test_bench_conversion_runs():
    for tool in ("soffice", "pdftoppm"):
        need_binary(tool)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "bench.whiteboard.conversion", "--pages", "2", "--repeat", "1", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["unit"] for r in rows] == ["s", "pages/s", "s", "pages/s"]
    assert all(r["value"] > 0 and "2-page" in r["measure"] for r in rows)
