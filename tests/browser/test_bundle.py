"""The committed tkroom.js is exactly what web/sdk/src builds to (so pip install serves the source)."""

from __future__ import annotations

import subprocess

from browser.conftest import SDK_DIR, need_node_modules
from tkroom.web.routes import SDK_FILE


def test_committed_bundle_matches_source(tmp_path):
    need_node_modules()
    out = tmp_path / "tkroom.js"
    subprocess.run(
        [str(SDK_DIR / "node_modules" / ".bin" / "esbuild"), "src/index.js", "--bundle", "--format=esm",
         "--target=es2020", "--legal-comments=none", f"--outfile={out}", "--log-level=warning"],
        cwd=SDK_DIR, check=True, timeout=120,
    )
    assert out.read_bytes() == SDK_FILE.read_bytes(), "run `make js` and commit the bundle"
