"""The cluster benchmark still runs end to end, every part of it (tiny sizes; no timing is
asserted here: speed is what ``python -m bench.cluster`` reports, not what a test checks). Its
Janus part adds about 10 s where it can run (root, Janus); elsewhere the table must say it
did not run and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.cluster import janus

from conftest import REQUIRE_ALL, need_binary

ROOT = Path(__file__).resolve().parent.parent


def test_bench_cluster_runs_every_message_arrives_and_every_member_resumes(tmp_path):
    need_binary("redis-server")
    out = tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.cluster", "--members", "20", "--failover-members", "12",
         "--chats", "4", "--pubs", "6", "--janus-tries", "1", "--janus-subscribers", "2",
         "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert all({"measure", "value", "unit"} <= r.keys() for r in rows)
    by = {r["measure"]: r for r in rows}

    one = by["one node, 20 members: chat p99"]
    assert one["received"] == one["expected"] == 20 * 4 and one["value"] > 0
    for name in "AB":  # each node of the two: every chat and pubMsg reached its 20 members
        p99 = by[f"two nodes, 40 members: chat p99 on node {name} (20 members; baseline: one "
                 "node)"]
        assert p99["received"] == p99["expected"] == 20 * 4
        assert p99["value"] > 0 and p99["baseline"] == one["value"]
        assert isinstance(p99["ok"], bool)
        dps = by[f"two nodes, 40 members: deliveries/s on node {name} (baseline: one node)"]
        assert dps["received"] == dps["expected"] == 20 * 6 and dps["value"] > 0
    per_node = result["raw"]["two_nodes"]["per_node"]
    assert [n["node"] for n in per_node] == [0, 1]
    both = by["two nodes, 40 members: deliveries/s of both nodes together (baseline: one node)"]
    assert both["value"] == sum(n["deliveries_per_s"] for n in per_node)
    for name in "AB":
        cpu = by[f"two nodes, 40 members: node {name} CPU per delivery (baseline: one node)"]
        assert cpu["value"] >= 0 and cpu["baseline"] >= 0

    everyone = by["failover, 12 members: resumed (not joined afresh) / counted by the teacher "
                  "/ reached by a chat after"]
    assert everyone["value"] == everyone["back"] == everyone["counted"] == 12
    assert everyone["chat_reached"] == 12 and everyone["ok"] is True
    p50 = by["failover, 12 members: kill -9 to resumed on the other node, p50"]["value"]
    p99 = by["failover, 12 members: kill -9 to resumed on the other node, p99"]["value"]
    assert 0 < p50 <= p99

    assert "| measure | value | baseline | ratio | floor | ok |" in done.stdout
    assert all(f"| {m} |" in done.stdout for m in by)

    reason = janus.missing()
    if reason:  # the default run goes on without it, and says so
        assert by[f"Janus kill: not run ({reason})"]["value"] is None
        if REQUIRE_ALL:
            pytest.fail(f"the Janus part did not run: {reason}")
        return
    runs = result["raw"]["janus"]["runs"]
    assert len(runs["one node"]) == len(runs["two nodes"]) == 1
    head = "Janus kill, 2 subscribers, 1 try"
    for stat in ("p50", "max"):
        agreed = by[f"{head}, two nodes: kill to every node on the other Janus, {stat} "
                    "(baseline: one node)"]
        flowing = by[f"{head}, two nodes: kill to frames flowing again at every subscriber, "
                     f"{stat} (baseline: one node)"]
        assert 0 < agreed["value"] <= flowing["value"]
        assert agreed["baseline"] == by[f"{head}, one node: kill to every node on the other "
                                        f"Janus, {stat}"]["value"] > 0
        assert flowing["baseline"] == by[f"{head}, one node: kill to frames flowing again at "
                                         f"every subscriber, {stat}"]["value"] > 0
