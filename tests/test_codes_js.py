"""web/sdk/src/codes.js is generated from tkroom.codes: the browser SDK and the server never
disagree about a code's number, name or description."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tkroom import codes

ROOT = Path(__file__).resolve().parents[1]
CODES_JS = ROOT / "web" / "sdk" / "src" / "codes.js"


def test_codes_js_is_what_the_generator_writes():
    assert CODES_JS.read_text(encoding="utf-8") == codes.js_module(), "run `make js` and commit codes.js"


def test_generator_runs_as_a_module_and_covers_every_row():
    out = subprocess.run([sys.executable, "-m", "tkroom.codes", "--js"], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src")}, timeout=60).stdout
    assert out == codes.js_module()
    for c in codes.CODES:
        assert f": {c.code}," in out and c.description.replace('"', '\\"') in out, c
