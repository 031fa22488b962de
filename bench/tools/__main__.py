"""``python -m bench.tools``: the answer card at class size (issue 13), one table.

A tkroom node (``bench.signal.ours``: store, HTTP, memory room state, signalling; pinned to
the first core) holds one room: a teacher and ``--students`` students (raw WebSocket clients
in this process, on the other cores). Each round the teacher asks a card; every student
answers it within one second (spread evenly over the second); the measure is the time from
the send of the last answer to the teacher's receipt of the live ``AnswerCount`` that holds
every answer (``answered`` = students, counts exact), p99 over the rounds (floor ≤ 500 ms).
The baseline is the chat fan-out of the same room: between cards the teacher sends chat
messages to everyone, latency from the send to every student's receipt, p99 over all
receipts. Every client is on this machine: one clock. Prints the table, writes JSON
(``bench/tools/results.json`` unless ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import websockets

from bench.signal import worker
from bench.signal.__main__ import percentile
from bench.signal.ours import TkroomNode
from bench.whiteboard.common import row, table

HERE = Path(__file__).resolve().parent
FLOOR_MS = 500.0
OPTIONS = ["A", "B", "C", "D"]
CHAT_RATE = 20.0        # teacher chats a second between the cards


class Progress:
    """What every member received so far, and an event set at each receipt (no polling)."""

    def __init__(self) -> None:
        self.chats = 0
        self.changed = asyncio.Event()

    async def until(self, pred: Any, wait: float = 30.0) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not pred():
            self.changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return bool(pred())
        return True


class Member:
    """One raw protocol client: acks by id, receipt times of chats and live counts."""

    def __init__(self, ws: Any, progress: Progress, teacher: bool = False) -> None:
        self.ws = ws
        self.progress = progress
        self.teacher = teacher
        self.next_id = 0
        self.acks: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.chats: dict[str, float] = {}              # chat key -> receipt time
        self.complete: dict[str, float] = {}           # qid -> receipt of the full tally
        self.counts: dict[str, dict[str, Any]] = {}    # qid -> newest count
        self.target = 0
        self.questions: asyncio.Queue[str] = asyncio.Queue()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                f = json.loads(raw)
                if "ack" in f:
                    fut = self.acks.pop(f["ack"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(f)
                    continue
                ev, d = f.get("ev"), f.get("data") or {}
                if ev == "sendMessage":
                    msg = d.get("message")
                    if isinstance(msg, dict) and "key" in msg and not self.teacher:
                        self.chats[msg["key"]] = now
                        self.progress.chats += 1
                        self.progress.changed.set()
                elif ev == "pubMsg" and d.get("name") == "AnswerCount":
                    c = d["data"]
                    cur = self.counts.get(c["qid"])
                    if cur is None or c["version"] > cur["version"]:
                        self.counts[c["qid"]] = c
                    if c["answered"] >= self.target and c["qid"] not in self.complete:
                        self.complete[c["qid"]] = now
                        self.progress.changed.set()
                elif ev == "pubMsg" and d.get("name") == "Question":
                    self.questions.put_nowait(d["data"]["qid"])
        except websockets.ConnectionClosed:
            pass

    async def send(self, ev: str, data: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = fut
        await self.ws.send(json.dumps({"id": self.next_id, "ev": ev, "data": data}))
        return fut

    async def req(self, ev: str, data: dict[str, Any], wait: float = 30.0) -> dict[str, Any]:
        return await asyncio.wait_for(await self.send(ev, data), wait)


async def connect(url: str, join: dict[str, Any], progress: Progress,
                  teacher: bool = False) -> Member:
    ws = await websockets.connect(url, compression=None, max_size=2**24, open_timeout=60,
                                  ping_interval=None)
    m = Member(ws, progress, teacher)
    ack = await m.req("joinRoom", join, 60)
    if ack["code"]:
        raise RuntimeError(f"join refused: {ack}")
    return m


async def answer_all(students: list[Member], qid: str) -> tuple[float, list[dict[str, Any]]]:
    """Every student answers ``qid`` once, spread evenly over one second: the time of the
    last send, and the acks."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    last_send = 0.0

    async def one(i: int, s: Member) -> asyncio.Future[dict[str, Any]]:
        nonlocal last_send
        await asyncio.sleep(max(0.0, start + i / len(students) - loop.time()))
        fut = await s.send("pubMsg", {"name": "AnswerCommit", "data": {
            "qid": qid, "answer": [i % len(OPTIONS)]}})
        last_send = max(last_send, time.perf_counter())
        return fut

    futs = await asyncio.gather(*(one(i, s) for i, s in enumerate(students)))
    await asyncio.wait(futs, timeout=60)
    acks = [f.result() if f.done() else {"code": -1, "msg": "no ack in 60 s"} for f in futs]
    return last_send, acks


async def measure(students: int, rounds: int, chats: int) -> list[dict[str, Any]]:
    node = TkroomNode(env={"TKROOM_MAX_SAVED_MESSAGES": "50000"})
    node.start(0 if (os.cpu_count() or 1) > 1 else None)
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(1, os.cpu_count() or 2)))
    members: list[Member] = []
    try:
        url = f"ws://127.0.0.1:{node.port}/"
        t_join, s_joins = node.credentials(students)
        progress = Progress()
        teacher = await connect(url, t_join, progress, teacher=True)
        teacher.target = students
        members.append(teacher)
        for i in range(0, students, 50):
            members += await asyncio.gather(*(connect(url, j, progress) for j in s_joins[i:i + 50]))
        studs = members[1:]
        tally_ms: list[float] = []
        chat_ms: list[float] = []
        refused: list[Any] = []
        exact = True
        late = 0            # waits for receipts that ran out (the rows then say what came)
        for r in range(rounds):
            # chat fan-out, the baseline, in the same room
            sent: dict[str, float] = {}
            for k in range(chats):
                key = f"r{r}c{k}"
                sent[key] = time.perf_counter()
                await teacher.send("sendMessage", {"toID": "__all",
                                                   "message": {"msg": "ok", "key": key}})
                await asyncio.sleep(1 / CHAT_RATE)
            if not await progress.until(lambda r=r: progress.chats >= (r + 1) * chats * students,
                                        60):
                late += 1
            chat_ms += [(s.chats[k] - t0) * 1000 for s in studs for k, t0 in sent.items()
                        if k in s.chats]
            # the card: everyone answers within one second
            qid = f"q{r}"
            ack = await teacher.req("pubMsg", {"name": "Question", "id": f"Question_{qid}",
                                               "data": {"qid": qid, "options": OPTIONS}})
            if ack["code"]:
                raise RuntimeError(f"ask refused: {ack}")
            await asyncio.gather(*(s.questions.get() for s in studs))
            last_send, acks = await answer_all(studs, qid)
            refused += [a for a in acks if a["code"]][:3]
            if await progress.until(lambda qid=qid: qid in teacher.complete, 60):
                tally_ms.append((teacher.complete[qid] - last_send) * 1000)
            else:
                late += 1
            want = [sum(1 for i in range(students) if i % len(OPTIONS) == o)
                    for o in range(len(OPTIONS))]
            exact = exact and teacher.counts.get(qid, {}).get("counts") == want
            await teacher.req("pubMsg", {"name": "PublishResult", "data": {"qid": qid}})
        in_order = [round(x, 1) for x in tally_ms]
        tally_ms.sort()
        chat_ms.sort()
        expected_chats = rounds * chats * students
        detail = {"students": students, "rounds": rounds, "chats_per_round": chats,
                  "tally_ms": in_order, "complete_rounds": len(tally_ms),
                  "exact": exact, "refused": refused, "chat_receipts": len(chat_ms),
                  "chat_expected": expected_chats, "waits_ran_out": late,
                  "chat_max_ms": round(chat_ms[-1], 1) if chat_ms else None}
        ok = len(tally_ms) == rounds and exact and not refused and \
            percentile(tally_ms, 0.99) <= FLOOR_MS
        return [
            row(f"full tally at the teacher after the last of {students} answers, p50 "
                "(baseline: chat p50)", percentile(tally_ms, 0.5), "ms",
                baseline=percentile(chat_ms, 0.5)),
            row(f"full tally at the teacher after the last of {students} answers, p99 over "
                f"{rounds} cards (baseline: chat fan-out p99, same room)",
                percentile(tally_ms, 0.99), "ms", baseline=percentile(chat_ms, 0.99),
                floor=f"≤ {FLOOR_MS:.0f} ms", ok=ok, detail=detail),
        ]
    finally:
        for m in members:
            m.reader.cancel()
            try:
                await asyncio.wait_for(m.ws.close(), 2)
            except Exception:
                m.ws.transport.abort()
        node.stop()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.tools", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=10, help="cards asked (samples of the tally)")
    p.add_argument("--chats", type=int, default=20, help="teacher chats before each card")
    p.add_argument("--out", type=Path, default=HERE / "results.json")
    args = p.parse_args()
    started, load_before = time.time(), os.getloadavg()[0]
    rows = worker.run(measure(args.students, args.rounds, args.chats))   # uvloop, as bench.signal
    print(table(rows))
    print(f"\nload average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"{os.cpu_count()} cores; {time.time() - started:.0f} s")
    args.out.write_text(json.dumps({
        "bench": "tools", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": time.time() - started, "machine": platform.platform(),
        "python": sys.version.split()[0], "cpus": os.cpu_count(),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg()[0],
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rows": rows}, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
