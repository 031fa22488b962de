"""``python -m bench.webapi``: requests/s of checkroom and roomcreate beside a bare endpoint.

Each store (SQLite; PostgreSQL when one answers at 127.0.0.1:5432 or --pg URL) gets a node in a
subprocess with the bare route added to the same Starlette app; the load generator runs in this
process. Prints a table and writes bench/results/webapi-<time>.json. Then
``bench.webapi.firstlogin``: a class's first logins at once, beside the old behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.webapi.load import run

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 3
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def pg_database(admin_url: str) -> str:
    import asyncpg

    name = f"tkroom_bench_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg", "postgresql"))
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    return admin_url.rsplit("/", 1)[0] + "/" + name


def pg_drop(admin_url: str, url: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg", "postgresql"))
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await conn.close()

    asyncio.run(drop())


def bench_store(label: str, database: str | None, seconds: float, connections: int) -> dict[str, Any]:
    data = tempfile.mkdtemp(prefix="tkroom-bench-")
    db_args = ["--database", database] if database else []
    ent = json.loads(subprocess.run(
        [sys.executable, "-m", "tkroom", "admin", "enterprise", "create", "Bench", "--data", data, *db_args],
        env=ENV, capture_output=True, text=True, check=True).stdout)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.webapi.server", "--port", str(port), "--data", data,
                             *db_args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        now = int(time.time())
        room = {"key": ent["authkey"], "roomname": "Bench", "roomtype": "3", "starttime": str(now),
                "endtime": str(now + 86400), "passwordrequired": "1", "chairmanpwd": "teach1",
                "assistantpwd": "assist1", "patrolpwd": "patrol1", "confuserpwd": "stud1"}
        import httpx

        serial = httpx.post(f"http://127.0.0.1:{port}/WebAPI/roomcreate", data=room).json()["serial"]
        check = {"serial": serial, "password": "stud1", "nickname": "Student"}

        async def measure() -> dict[str, Any]:
            out: dict[str, Any] = {}
            await run("127.0.0.1", port, "/bare", {"a": "1"}, connections=connections, max_requests=500,
                      max_seconds=1)  # warm-up
            await run("127.0.0.1", port, "/ClientAPI/checkroom", check, connections=4, max_requests=100,
                      max_seconds=2)
            # bare and checkroom alternate in rounds, so that load from elsewhere hits both alike
            plan = [("bare", "/bare", check), ("checkroom", "/ClientAPI/checkroom", check)] * ROUNDS
            plan.append(("roomcreate", "/WebAPI/roomcreate", room))
            for name, path, form in plan:
                share = seconds if name == "roomcreate" else seconds / ROUNDS
                r = await run("127.0.0.1", port, path, form, connections=connections,
                              max_requests=200000, max_seconds=share)
                m = out.setdefault(name, {"requests": 0, "seconds": 0.0, "errors": 0})
                m["requests"] += r.requests
                m["seconds"] += r.seconds
                m["errors"] += r.errors
            for m in out.values():
                m["rps"] = round(m["requests"] / m["seconds"], 1)
                m["seconds"] = round(m["seconds"], 3)
            return out

        res = asyncio.run(measure())
    finally:
        proc.terminate()
        proc.wait(30)
    bare = res["bare"]["rps"]
    for name in ("checkroom", "roomcreate"):
        res[name]["ratio_to_bare"] = round(res[name]["rps"] / bare, 3) if bare else 0.0
    return {"store": label, **res}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.webapi")
    ap.add_argument("--seconds", type=float, default=5.0, help="per endpoint (bounded)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
                    help="an admin URL of a PostgreSQL server (a fresh database is created and dropped)")
    ap.add_argument("--no-pg", action="store_true")
    a = ap.parse_args()
    rows = [bench_store("sqlite", None, a.seconds, a.connections)]
    if not a.no_pg:
        try:
            url = pg_database(a.pg)
        except Exception as exc:  # no server: report it, keep the SQLite figures
            print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        else:
            try:
                rows.append(bench_store("postgres", url, a.seconds, a.connections))
            finally:
                pg_drop(a.pg, url)
    print(f"{'store':<9} {'endpoint':<11} {'req/s':>9} {'ratio':>7} {'errors':>7}")
    for r in rows:
        for name in ("bare", "checkroom", "roomcreate"):
            m = r[name]
            ratio = f"{m['ratio_to_bare']:.3f}" if "ratio_to_bare" in m else "1.000"
            print(f"{r['store']:<9} {name:<11} {m['rps']:>9.1f} {ratio:>7} {m['errors']:>7}")
    floor = all(r["checkroom"]["ratio_to_bare"] >= 0.40 for r in rows)
    print(f"checkroom floor (>= 40% of bare): {'met' if floor else 'NOT met'}")
    out = {"bench": "webapi", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "seconds_per_endpoint": a.seconds, "connections": a.connections, "results": rows,
           "checkroom_floor_met": floor}
    dest = ROOT / "bench" / "results" / f"webapi-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {dest.relative_to(ROOT)}")
    from bench.webapi.firstlogin import main as first_logins

    first_logins([])


if __name__ == "__main__":
    main()
