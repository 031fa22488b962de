"""The first-login benchmark still runs: a small class enters a fresh room at once, on a node
with Argon2id hashes and on one upgrading scrypt hashes, and every student is admitted (no
timing is asserted: speed is what ``python -m bench.webapi.firstlogin`` reports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json
from pathlib import Path
from bench.webapi import firstlogin as f
print(json.dumps([f.bench_node(label, Path("src"), 8, 1, upgrade)
                  for label, upgrade in (("argon2id", False), ("scrypt upgrade", True))]))
"""


def test_first_login_bench_admits_every_student():
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)
    assert [r["node"] for r in rows] == ["argon2id", "scrypt upgrade"]
    for r in rows:
        assert r["codes"] == {"0": 8}, r
        assert r["student_hashes"] == ["argon2id"], "the scrypt hashes were upgraded at the login"
        assert 0 < r["rounds"][0]["first_s"] <= r["rounds"][0]["all_s"]
