"""``python -m bench.saved_messages``: how long the node stalls when a user with many saved
messages leaves, before the fix and after it, in one run.

Each scenario runs ``tkroom serve`` in a subprocess (room state in memory, or ``--redis``)
from a source tree: this checkout's ``src``, and for "before" the ``src`` of ``--baseline-rev``
(extracted with ``git archive``). A teacher joins; students save messages associated with
themselves (``pubMsg`` ``save: true``, ``associatedUserID`` = own id, ``toID: "__none"``, as a
student may), notes on the teacher's saved ``page`` (``associatedMsgID``); then the first
student leaves and the node deletes its saved messages, each announced to the teacher as
``delMsg``. A probe process (``bench.saved_messages.probe``) GETs
``/openapi.json`` every 10 ms all along: its slowest answer in a phase is the longest time the
node's event loop was busy without serving HTTP.

Scenarios: *before*: the baseline code, ``--messages`` (20,000) from one student. *after, no
limits*: this code with both limits off (``TKROOM_MAX_SAVED_*=0``), the same load.
*after, default limits*: this code as shipped: ``--users`` students try ``--messages`` between
them (the leaving one first), and the limits refuse what is beyond them (2601).

Prints a table and writes ``bench/results/saved_messages-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[2]
BASELINE_REV = "c24576bca864c6fa3dbbe73b3661949a4e56bf4b"   # main before the fix (issue 8)
PASSWORDS = {"chairmanpwd": "teach1", "assistantpwd": "assist1", "patrolpwd": "patrol1",
             "confuserpwd": "stud1"}
IN_FLIGHT = 128           # pubMsg requests one client keeps in flight
TIMEOUT = 1800.0          # seconds any one phase may take (the baseline's leave is slow)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the node exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def baseline_src(rev: str, dest: Path) -> Path:
    """The ``src`` tree of ``rev``, extracted from git (the checkout is left alone)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "src"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


class Probe:
    """The probe process and the answers it reported: ``(start, latency)``."""

    def __init__(self, port: int, redis: str | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        target = ["--redis", redis] if redis else ["--port", str(port)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.saved_messages.probe", *target,
             "--max-seconds", str(4 * TIMEOUT)], env=env, stdout=subprocess.PIPE, text=True)
        self.samples: list[tuple[float, float]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            start, lat = line.split()
            self.samples.append((float(start), float(lat)))

    def wait_first(self) -> None:
        deadline = time.monotonic() + 30
        while not self.samples:
            if time.monotonic() > deadline:
                raise RuntimeError("the probe got no answer")
            time.sleep(0.05)

    def worst(self, t0: float, t1: float) -> dict[str, float]:
        """The slowest answer to a request in flight during [t0, t1], and how many answered."""
        got = [lat for start, lat in list(self.samples) if start <= t1 and start + lat >= t0]
        return {"max_ms": round(max(got, default=0.0) * 1000, 1), "answers": len(got)}

    async def answered_after(self, t: float) -> float:
        """When an answer first completed after ``t`` (its target was free again)."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            done = [start + lat for start, lat in list(self.samples) if start + lat >= t]
            if done:
                return min(done)
            await asyncio.sleep(0.05)
        raise RuntimeError("the probe's target did not answer again")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self._reader.join(5)


class Client:
    """A bare protocol client: pipelined requests, and the ``delMsg`` events it received."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.acks: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.deleted = 0
        self.enough = asyncio.Event()       # set at ``want`` delMsg, or when the socket closes
        self.want = -1
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if "ack" in frame:
                    fut = self.acks.pop(frame["ack"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(frame)
                elif frame.get("ev") == "delMsg":
                    self.deleted += 1
                    if self.deleted == self.want:
                        self.enough.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.enough.set()

    async def req(self, ev: str, data: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = fut
        await self.ws.send(json.dumps({"id": self.next_id, "ev": ev, "data": data}))
        return await asyncio.wait_for(fut, TIMEOUT)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


@dataclass
class Scenario:
    label: str
    src: Path
    env: dict[str, str]
    shares: list[int]                     # messages each student tries to save, leaver first
    result: dict[str, Any] = field(default_factory=dict)


async def checkroom(http: httpx.AsyncClient, serial: str, password: str, uid: str) -> str:
    r = (await http.post("/ClientAPI/checkroom", data={
        "serial": serial, "password": password, "nickname": uid, "userid": uid})).json()
    assert r["result"] == 0, r
    return r["ticket"]


async def join(url: str, ticket: str) -> tuple[Client, dict[str, Any]]:
    # no client pings: a node that stalls for minutes (the baseline) must not be hung up on
    c = Client(await websockets.connect(url, max_size=2**26, compression=None,
                                        ping_interval=None))
    ack = await c.req("joinRoom", {"ticket": ticket})
    assert ack["code"] == 0, ack
    return c, ack["data"]


async def save_many(c: Client, uid: str, n: int) -> tuple[int, int]:
    """Save ``n`` messages associated with ``uid``, ``IN_FLIGHT`` at a time: (saved, refused)."""
    saved = refused = 0
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        nonlocal saved, refused
        async with sem:
            ack = await c.req("pubMsg", {
                "name": "note", "id": f"{uid}-{i}", "toID": "__none", "save": True,
                "associatedUserID": uid, "associatedMsgID": "page",
                "data": {"line": i, "text": "x" * 40}})
        if ack["code"] == 0:
            saved += 1
        elif ack["code"] == 2601:
            refused += 1
        else:
            raise RuntimeError(f"pubMsg answered {ack}")

    await asyncio.gather(*(one(i) for i in range(n)))
    return saved, refused


async def drive(port: int, sport: int, key: str, sc: Scenario, probe: Probe,
                rprobe: Probe | None) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{sport}/"
    now = int(time.time())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        r = (await http.post("/WebAPI/roomcreate", data={
            "key": key, "roomname": "Bench", "roomtype": 3, "starttime": now,
            "endtime": now + 86400, "passwordrequired": 1, "maxusers": 200,
            **PASSWORDS})).json()
        assert r["result"] == 0, r
        serial = r["serial"]
        teacher, _ = await join(url, await checkroom(http, serial, "teach1", "teacher"))
        ack = await teacher.req("pubMsg", {"name": "page", "id": "page", "toID": "__all",
                                           "save": True, "data": {"n": 1}})
        assert ack["code"] == 0, ack
        students = [(await join(url, await checkroom(http, serial, "stud1", f"s{i}")))[0]
                    for i in range(len(sc.shares))]
        out: dict[str, Any] = {}
        t0 = time.monotonic()
        saved, refused = await save_many(students[0], "s0", sc.shares[0])
        rest = await asyncio.gather(*(save_many(c, f"s{i + 1}", n)
                                      for i, (c, n) in enumerate(zip(students[1:],
                                                                     sc.shares[1:],
                                                                     strict=True))))
        t1 = time.monotonic()
        out["leaver_saved"] = saved
        out["saved"] = saved + sum(s for s, _ in rest)
        out["refused"] = refused + sum(r for _, r in rest)
        out["saving_s"] = round(t1 - t0, 2)
        out["stall_while_saving"] = probe.worst(t0, t1)
        # what a join costs with that many saved messages
        late = await checkroom(http, serial, "assist1", "late")
        j0 = time.monotonic()
        late_client, answer = await join(url, late)
        out["join_ms"] = round((time.monotonic() - j0) * 1000, 1)
        assert len(answer["msglist"]) == out["saved"] + 1, (len(answer["msglist"]), out)
        await asyncio.sleep(0.5)      # the probe sees a quiet loop before the leave
        # the leave: its ack, then every delMsg at the teacher
        teacher.want = saved
        l0 = time.monotonic()
        ack = await students[0].req("leaveRoom", {})
        l1 = time.monotonic()
        if ack["code"]:      # e.g. Redis answering BUSY to the node while a script runs
            out["leave_error"] = f"{ack['code']} {ack.get('msg', '')}"
        else:
            await asyncio.wait_for(teacher.enough.wait(), TIMEOUT)
        l2 = time.monotonic()
        await asyncio.sleep(0.2)
        out["leave_ack_s"] = round(l1 - l0, 3)
        out["delmsg_received"] = teacher.deleted
        # None: the node hung up on the teacher before all came (its keepalive, after a stall)
        out["cascade_done_s"] = round(l2 - l0, 3) if teacher.deleted >= saved else None
        out["stall_during_leave"] = probe.worst(l0, l2)
        if rprobe is not None:
            # a script may still run after the leave failed: until Redis answers again
            free = await rprobe.answered_after(l2)
            out["redis_free_again_s"] = round(free - l0, 3)
            out["redis_stall_during_leave"] = rprobe.worst(l0, max(l2, free))
        for c in (teacher, late_client, *students):
            await c.close()
    return out


def redis_free(url: str) -> None:
    """Wait while Redis still runs an earlier scenario's script (it answers BUSY)."""
    import redis

    r = redis.Redis.from_url(url, socket_timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            r.ping()
            break
        except redis.exceptions.ResponseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    r.close()


def run(sc: Scenario, data: Path) -> dict[str, Any]:
    env = {**os.environ, **sc.env, "PYTHONPATH": str(sc.src), "TKROOM_EMBEDDED_JANUS": "0"}
    if "TKROOM_REDIS_URL" in sc.env:
        redis_free(sc.env["TKROOM_REDIS_URL"])
    ent = json.loads(subprocess.run(
        [sys.executable, "-m", "tkroom", "admin", "enterprise", "create", "Bench", "--data",
         str(data)], env=env, capture_output=True, text=True, check=True).stdout)
    port, sport = free_port(), free_port()
    log = open(data / "node.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "tkroom", "serve", "--port", str(port), "--signal-port",
         str(sport), "--data", str(data), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    probe = rprobe = None
    try:
        wait_port(port, proc)
        wait_port(sport, proc)
        probe = Probe(port)
        probe.wait_first()
        if "TKROOM_REDIS_URL" in sc.env:
            rprobe = Probe(0, sc.env["TKROOM_REDIS_URL"])
            rprobe.wait_first()
        idle0 = time.monotonic()
        time.sleep(1.0)
        idle = probe.worst(idle0, time.monotonic())
        try:
            out = asyncio.run(drive(port, sport, ent["authkey"], sc, probe, rprobe))
        except BaseException:
            log.flush()
            print((data / "node.log").read_text()[-4000:], file=sys.stderr)
            raise
        print(f"   {json.dumps(out)}", flush=True)
        out["stall_idle"] = idle
    finally:
        for p in (probe, rprobe):
            if p is not None:
                p.stop()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    return out


def shares(total: int, users: int) -> list[int]:
    base, extra = divmod(total, users)
    return [base + (1 if i < extra else 0) for i in range(users)]


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.saved_messages")
    ap.add_argument("--messages", type=int, default=20_000,
                    help="saved messages the students try to save (default 20000)")
    ap.add_argument("--users", type=int, default=20,
                    help="students sharing them in the default-limits scenario (default 20)")
    ap.add_argument("--baseline-rev", default=BASELINE_REV,
                    help="git revision measured as 'before' (default: main before the fix)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the 'before' scenario")
    ap.add_argument("--redis", help="run the nodes on this Redis (room state shared there) "
                                    "instead of in memory; a second probe PINGs it")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tkroom-bench-saved-"))
    env = {"TKROOM_REDIS_URL": a.redis} if a.redis else {}
    off = {**env, "TKROOM_MAX_SAVED_MESSAGES": "0", "TKROOM_MAX_SAVED_PER_USER": "0"}
    here = ROOT / "src"
    plan = []
    if not a.no_baseline:
        (tmp / "baseline").mkdir()
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", a.baseline_rev],
                             capture_output=True, text=True, check=True).stdout.strip()
        plan.append(Scenario(f"before ({rev})", baseline_src(a.baseline_rev, tmp / "baseline"),
                             env, [a.messages]))
    plan.append(Scenario("after, no limits", here, off, [a.messages]))
    plan.append(Scenario("after, default limits", here, env, shares(a.messages, a.users)))
    rows = []
    try:
        for i, sc in enumerate(plan):
            print(f"-- {sc.label}: {sum(sc.shares)} messages from {len(sc.shares)} student(s)",
                  flush=True)
            data = tmp / f"data{i}"
            data.mkdir()
            res = run(sc, data)
            rows.append({"scenario": sc.label, "students": len(sc.shares),
                         "attempted": sum(sc.shares), **res})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    state = "redis" if a.redis else "memory"
    print(f"\nroom state: {state}; stall = slowest /openapi.json answer while it happened")
    if a.redis:
        print("redis stall ms (slowest PING to Redis during the leave): " + ", ".join(
            f"{r['scenario']}: {r['redis_stall_during_leave']['max_ms']}" for r in rows))
    head = (f"{'scenario':<24} {'saved':>6} {'refused':>7} {'leaver':>6} {'leave ack s':>11} "
            f"{'all delMsg s':>12} {'stall leave ms':>14} {'stall saving ms':>15} "
            f"{'join ms':>8} {'idle ms':>7}")
    print(head)
    for r in rows:
        done = "dropped" if r["cascade_done_s"] is None else f"{r['cascade_done_s']:.3f}"
        if "leave_error" in r:
            done = f"error {r['leave_error'][:4]}"
        print(f"{r['scenario']:<24} {r['saved']:>6} {r['refused']:>7} {r['leaver_saved']:>6} "
              f"{r['leave_ack_s']:>11.3f} {done:>12} "
              f"{r['stall_during_leave']['max_ms']:>14.1f} "
              f"{r['stall_while_saving']['max_ms']:>15.1f} {r['join_ms']:>8.1f} "
              f"{r['stall_idle']['max_ms']:>7.1f}")
    out = {"bench": "saved_messages", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "state": state, "messages": a.messages, "users": a.users,
           "baseline_rev": None if a.no_baseline else a.baseline_rev, "results": rows}
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    dest = ROOT / "bench" / "results" / f"saved_messages-{stamp}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {dest.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
