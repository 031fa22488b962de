"""``python -m bench.media_cluster [--tries N] [--subscribers N]``: the Janus part of
``python -m bench.cluster`` alone, i.e. ``python -m bench.cluster --only janus --janus-tries N
--janus-subscribers N`` (the measurement is ``bench/cluster/janus.py``; the table and the JSON,
``bench/results/cluster-<time>.json``, are bench.cluster's)."""

from __future__ import annotations

import argparse

from bench.cluster.__main__ import main as cluster_main


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.media_cluster", description=__doc__)
    ap.add_argument("--tries", type=int, default=3)
    ap.add_argument("--subscribers", type=int, default=4)
    args, rest = ap.parse_known_args()  # the rest (``--out FILE``) goes to bench.cluster
    return cluster_main(["--only", "janus", "--janus-tries", str(args.tries),
                         "--janus-subscribers", str(args.subscribers), *rest])


if __name__ == "__main__":
    raise SystemExit(main())
