"""``python -m bench`` (``make bench``): run every benchmark under bench/ in turn: each package
with a ``__main__.py``, then the one-file benchmarks named in ``MODULES``."""

from __future__ import annotations

import contextlib
import pkgutil
import runpy
from pathlib import Path

HERE = Path(__file__).parent
MODULES = ("guessing", "redis_restart")  # bench.media_cluster: part of bench.cluster

for mod in pkgutil.iter_modules([str(HERE)]):
    if mod.ispkg and (HERE / mod.name / "__main__.py").exists():
        print(f"== bench.{mod.name}", flush=True)
        with contextlib.suppress(SystemExit):  # a benchmark's exit status does not end the run
            runpy.run_module(f"bench.{mod.name}", run_name="__main__", alter_sys=True)
for name in MODULES:
    print(f"== bench.{name}", flush=True)
    with contextlib.suppress(SystemExit):
        runpy.run_module(f"bench.{name}", run_name="__main__", alter_sys=True)
