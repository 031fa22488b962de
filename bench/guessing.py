"""``python -m bench.guessing``: a bystander's checkroom while one address guesses in parallel.

For the source under test and for a baseline revision (``--baseline-rev``, extracted with ``git
archive`` into a temporary folder), a node runs as ``tkroom serve`` in a subprocess with the
default throttle (0.05 s doubling up to 5 s). One address (127.0.0.1) sends ``--guessers``
wrong passwords for one room at a time, each connection asking again as soon as it is answered;
meanwhile a bystander at another address (127.0.0.2) enters other rooms with the right student
password, one after another: a first ``checkroom`` of a room (scrypt to run) and then a repeat
(answered from the verify cache). Reported: the guesser's answered guesses per second (each one
a verification) beside what one guesser asking in turn would get in the same time (at the
idle node's verification time), the bystander's latencies (p50/p95/max) and any answer that was not the
expected one. Prints a table and writes bench/results/guessing-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.webapi.__main__ import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "c24576b"  # main before the parallel-guessing fix
BASE_S, CAP_S = 0.05, 5.0  # the default throttle: the first wait, doubling up to the cap
IDLE_PROBES = 3


def extract(rev: str) -> Path:
    """The ``src`` tree of ``rev`` in a temporary folder."""
    dest = Path(tempfile.mkdtemp(prefix="tkroom-bench-rev-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def sequential_guesses(window_s: float, verify_s: float) -> int:
    """How many guesses one guesser asking in turn gets answered in ``window_s`` under the
    default throttle, each verification taking ``verify_s``."""
    t, n = 0.0, 0
    while True:
        wait = min(CAP_S, BASE_S * 2 ** (n - 1)) if n else 0.0
        if t + wait + verify_s > window_s:
            return n
        t += wait + verify_s
        n += 1


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def summary(values: list[float]) -> dict[str, float | int]:
    return {"n": len(values), "p50_s": round(pct(values, 0.5), 3), "p95_s": round(pct(values, 0.95), 3),
            "max_s": round(max(values), 3) if values else float("nan")}


async def measure(url: str, key: str, seconds: float, guessers: int, probes: int) -> dict[str, Any]:
    now = int(time.time())
    room = {"key": key, "roomname": "Bench", "roomtype": "3", "starttime": str(now - 60),
            "endtime": str(now + 86400), "passwordrequired": "1", "chairmanpwd": "teach1", "assistantpwd": "assist1",
            "patrolpwd": "patrol1", "confuserpwd": "stud1"}
    async with httpx.AsyncClient(base_url=url, timeout=120) as admin:
        async def create() -> str:
            r = (await admin.post("/WebAPI/roomcreate", data=room)).json()
            assert r["result"] == 0, r
            return r["serial"]

        target = await create()
        rooms = [await create() for _ in range(probes + IDLE_PROBES)]

    guess_client = httpx.AsyncClient(base_url=url, timeout=300, limits=httpx.Limits(max_connections=guessers))
    bystander = httpx.AsyncClient(base_url=url, timeout=120,
                                  transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"))
    first: list[float] = []
    repeat: list[float] = []
    wrong: dict[str, int] = {}

    async def enter(serial: str, into: list[float]) -> None:
        t0 = time.monotonic()
        try:
            r = (await bystander.post("/ClientAPI/checkroom",
                                      data={"serial": serial, "nickname": "B", "password": "stud1"})).json()
            code = str(r["result"])
        except httpx.HTTPError as exc:
            code = type(exc).__name__
        into.append(time.monotonic() - t0)
        if code != "0":
            wrong[f"bystander {code}"] = wrong.get(f"bystander {code}", 0) + 1

    idle: list[float] = []
    for serial in rooms[:IDLE_PROBES]:
        await enter(serial, idle)
        await enter(serial, [])

    answered: list[float] = []
    stop = time.monotonic() + seconds

    async def guesser(i: int) -> None:
        k = 0
        while time.monotonic() < stop:
            form = {"serial": target, "nickname": "G", "password": f"g{i:02d}x{k:05d}"}
            try:
                r = (await guess_client.post("/ClientAPI/checkroom", data=form)).json()
                code = str(r["result"])
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            if code == "4008":
                answered.append(time.monotonic())
            else:
                wrong[f"guesser {code}"] = wrong.get(f"guesser {code}", 0) + 1
            k += 1

    t0 = time.monotonic()
    tasks = [asyncio.create_task(guesser(i)) for i in range(guessers)]
    try:
        await asyncio.sleep(min(2.0, seconds / 4))  # let the flood build up
        for serial in rooms[IDLE_PROBES:]:
            if time.monotonic() >= stop:
                break
            await enter(serial, first)
            await enter(serial, repeat)
        await asyncio.sleep(max(0.0, stop - time.monotonic()))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await guess_client.aclose()
        await bystander.aclose()
    window = max(1e-9, min(time.monotonic(), stop) - t0)
    late = [t for t in answered if t >= t0 + window / 2]
    return {
        "guesses": len(answered),
        "guesses_per_s": round(len(answered) / window, 3),
        "guesses_per_s_second_half": round(len(late) / (window / 2), 3),
        "sequential_per_s": round(sequential_guesses(window, statistics.median(idle)) / window, 3),
        "bystander_idle_first": summary(idle),
        "bystander_first": summary(first),
        "bystander_repeat": summary(repeat),
        "unexpected": wrong,
        "window_s": round(window, 2),
    }


def bench_node(label: str, src: Path, seconds: float, guessers: int, probes: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    data = tempfile.mkdtemp(prefix="tkroom-bench-")
    try:
        ent = json.loads(subprocess.run(
            [sys.executable, "-m", "tkroom", "admin", "enterprise", "create", "Bench", "--data", data],
            env=env, capture_output=True, text=True, check=True).stdout)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "tkroom", "serve", "--port", str(port),
                                 "--signal-port", str(free_port()), "--data", data, "--log-level", "error"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            res = asyncio.run(measure(f"http://127.0.0.1:{port}", ent["authkey"], seconds, guessers, probes))
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return {"node": label, **res}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.guessing")
    ap.add_argument("--baseline-rev", default=BASELINE, help=f"revision to compare with (default {BASELINE})")
    ap.add_argument("--no-baseline", action="store_true", help="measure the source under test only")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the flood per node")
    ap.add_argument("--guessers", type=int, default=64, help="parallel connections of the guesser")
    ap.add_argument("--probes", type=int, default=12, help="rooms the bystander may enter during the flood")
    a = ap.parse_args()
    rows = []
    if not a.no_baseline:
        src = extract(a.baseline_rev)
        try:
            rows.append(bench_node(f"baseline {a.baseline_rev}", src, a.seconds, a.guessers, a.probes))
        finally:
            shutil.rmtree(src.parent, ignore_errors=True)
    rows.append(bench_node("this tree", ROOT / "src", a.seconds, a.guessers, a.probes))

    def lat(m: dict[str, Any]) -> str:
        return f"{m['p50_s']:.2f}/{m['p95_s']:.2f}/{m['max_s']:.2f} ({m['n']})"

    print(f"{a.guessers} parallel wrong passwords from one address for {a.seconds:.0f} s; "
          "bystander latencies p50/p95/max s (samples)")
    print(f"{'node':<18} {'guesses/s':>9} {'2nd half':>8} {'sequential':>10} "
          f"{'bystander idle':>18} {'first checkroom':>20} {'repeat (cached)':>20}  unexpected")
    for r in rows:
        print(f"{r['node']:<18} {r['guesses_per_s']:>9.2f} {r['guesses_per_s_second_half']:>8.2f} "
              f"{r['sequential_per_s']:>10.2f} {lat(r['bystander_idle_first']):>18} "
              f"{lat(r['bystander_first']):>20} {lat(r['bystander_repeat']):>20}  {r['unexpected'] or '-'}")
    out = {"bench": "guessing", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "seconds": a.seconds, "guessers": a.guessers, "throttle_cap_s": CAP_S, "results": rows}
    dest = ROOT / "bench" / "results" / f"guessing-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {dest.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
