"""What the whiteboard benchmarks share: a tkroom node with one classroom whose members are
raw WebSocket clients held by ``bench.signal``'s worker processes, the teacher's connection,
the board's messages (docs/board.md) and the latency statistics.

The node runs pinned to the first core, this process and the workers to the others (as in
``bench.signal``); the affinity is put back when the classroom closes, so modules that run
after these in ``python -m bench.whiteboard`` get the whole machine again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.signal.__main__ import Workers, percentile
from bench.signal.dialects import Counters
from bench.signal.ours import TkroomNode
from bench.signal.rawws import RawWS
from bench.whiteboard.dialect import NAME as DIALECT
from bench.whiteboard.dialect import Board
from tkroom import tickets

# The node's limits for a compressed class: 5000 shapes on one page must fit in the room's
# saved messages (main's default is 5000 in all, the board branch's 50,000), and the teacher
# draws the 5000 faster than a person could (the board's default rate is 60 messages/s per
# user); the measured strokes themselves go at a drawing speed (<= 30 messages/s).
NODE_ENV = {
    "TKROOM_MAX_SAVED_MESSAGES": "50000",
    "TKROOM_BOARD_MAX_SHAPES": "10000",
    "TKROOM_BOARD_RATE": "100000",
}
PAGE = "0_1"  # the blank whiteboard's first page
DRAW_RATE = 30.0  # board messages per second from one drawer: a fast hand
COLORS = ("#e53935", "#1e88e5", "#43a047", "#000000", "#fb8c00", "#8e24aa")
WORDS = ("x²+1", "f(x)", "Δv/Δt", "答案", "see p. 12", "∫ f dx", "3.14", "why?", "H₂O", "→")

Plan = list[tuple[str, str, dict[str, Any]]]  # (key, ev, data): what the teacher sends


# the board's messages -----------------------------------------------------------------------

def show_page() -> dict[str, Any]:
    return {"name": "ShowPage", "id": "DocumentFilePage_ShowPage", "toID": "__all", "save": True,
            "data": {"fileid": 0, "currpage": 1, "pagenum": 1, "filename": "whiteboard",
                     "filetype": "whiteboard"}}


def segment(shape_id: str, seq: int, points: list[float], color: str) -> dict[str, Any]:
    """A stroke while it is drawn: the points added since the last segment, never saved."""
    return {"name": "SharpsChange", "id": f"{shape_id}###_SharpsDrawing_{PAGE}",
            "toID": "__allExceptSender", "save": False,
            "data": {"eventType": "drawingEvent", "shapeId": shape_id, "className": "Pen",
                     "seq": seq, "data": {"points": points, "color": color, "width": 0.004}}}


def saved_shape(shape_id: str, class_name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"name": "SharpsChange", "id": f"{shape_id}###_SharpsChange_{PAGE}", "toID": "__all",
            "save": True, "data": {"eventType": "shapeSaveEvent", "shapeId": shape_id,
                                   "className": class_name, "data": data}}


def chat(key: str, text: str) -> dict[str, Any]:
    return {"toID": "__all", "message": {"msg": text, "type": 0, "key": key}}


class Shapes:
    """Deterministic, realistic shapes: mostly pen strokes of 8-40 points (a hand-drawn mark
    after smoothing), some highlighter, lines, arrows, boxes, ellipses and short texts."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def walk(self, n: int, x: float | None = None, y: float | None = None) -> list[float]:
        rng = self.rng
        x = rng.uniform(0.05, 0.95) if x is None else x
        y = rng.uniform(0.05, 0.95) if y is None else y
        out: list[float] = []
        for _ in range(n):
            x = min(1.0, max(0.0, x + rng.uniform(-0.012, 0.012)))
            y = min(1.0, max(0.0, y + rng.uniform(-0.012, 0.012)))
            out += [round(x, 4), round(y, 4)]
        return out

    def shape(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        color, r = rng.choice(COLORS), rng.random()
        if r < 0.70:
            return "Pen", {"points": self.walk(rng.randint(8, 40)), "color": color,
                           "width": 0.004}
        if r < 0.78:
            return "Highlighter", {"points": self.walk(rng.randint(4, 16)), "color": "#ffeb3b",
                                   "width": 0.02}
        if r < 0.92:
            x1, y1 = rng.uniform(0.05, 0.9), rng.uniform(0.05, 0.9)
            return rng.choice(("Line", "Arrow", "Rectangle", "Ellipse")), {
                "x1": round(x1, 4), "y1": round(y1, 4), "x2": round(x1 + rng.uniform(0, 0.1), 4),
                "y2": round(y1 + rng.uniform(0, 0.1), 4), "color": color, "width": 0.004}
        return "Text", {"x": round(rng.uniform(0.05, 0.9), 4), "y": round(rng.uniform(0.05, 0.9), 4),
                        "text": rng.choice(WORDS), "color": color, "size": 0.03}

    def stroke(self, shape_id: str, segments: int, per_segment: int = 4) -> Plan:
        """One pen stroke as it is drawn: ``segments`` drawing events, then the saved shape."""
        color = self.rng.choice(COLORS)
        plan: Plan = []
        points: list[float] = []
        for seq in range(segments):
            new = self.walk(per_segment, *(points[-2:] if points else (None, None)))
            points += new
            plan.append((f"segment:{shape_id}:{seq}", "pubMsg", segment(shape_id, seq, new, color)))
        plan.append((f"shape:{shape_id}", "pubMsg",
                     saved_shape(shape_id, "Pen", {"points": points, "color": color,
                                                   "width": 0.004})))
        return plan


# statistics and result rows -----------------------------------------------------------------

def summary(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {"n": len(s), "p50": percentile(s, 0.50), "p99": percentile(s, 0.99),
            "max": s[-1] if s else math.nan}


BLOCKS = 3  # each phase is measured as this many blocks; a p99 is the best block's


def cpu_per_message_ms(blocks: list[Measured]) -> float:
    """The node's CPU milliseconds per message sent, over all blocks."""
    return 1000 * sum(b.node_cpu_s for b in blocks) / max(1, sum(b.sent for b in blocks))


def pooled(blocks: list[Measured], kind: str) -> dict[str, float]:
    """The statistics of every receipt of ``kind`` in all blocks together."""
    return summary([x for b in blocks for x in b.latencies.get(kind, [])])


def best_p99(blocks: list[Measured], kind: str) -> tuple[float, list[float]]:
    """The lowest of the blocks' p99s, and all of them. This machine is shared: whenever
    another process takes the node's core for a moment, every member waits, and one such
    stall in a phase is its p99. The best of a few blocks is the node's own tail; a
    slowdown of the node itself shows in every block."""
    p99s = [summary(b.latencies.get(kind, []))["p99"] for b in blocks]
    finite = [x for x in p99s if math.isfinite(x)]
    return (min(finite) if finite else math.nan), p99s


def row(measure: str, value: float, unit: str, *, baseline: float | None = None,
        floor: str | None = None, ok: bool | None = None, **extra: Any) -> dict[str, Any]:
    """One result row of the bench/whiteboard module contract (COMMON keys, then details)."""
    out: dict[str, Any] = {"measure": measure, "value": value, "unit": unit}
    if baseline is not None:
        out["baseline"] = baseline
    if floor is not None:
        out["floor"] = floor
    if ok is not None:
        out["ok"] = ok
    out.update(extra)
    return out


def _fmt(v: Any, unit: str = "") -> str:
    if not isinstance(v, int | float) or isinstance(v, bool):
        return "" if v is None else str(v)
    if math.isnan(v):
        return "-"
    if isinstance(v, int) or abs(v) >= 100:
        text = f"{v:,.0f}"
    else:
        text = f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return f"{text} {unit}".rstrip()


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as one Markdown table: measure, value, baseline, ratio, floor, ok."""
    lines = ["| measure | value | baseline | ratio | floor | ok |", "|---|---|---|---|---|---|"]
    for r in rows:
        unit, value, base = r.get("unit", ""), r.get("value"), r.get("baseline")
        ratio = ""
        if isinstance(value, int | float) and isinstance(base, int | float) and base:
            ratio = f"{value / base:.2f}×"
        ok = {True: "yes", False: "**NO**", None: ""}[r.get("ok")]
        lines.append(f"| {r['measure']} | {_fmt(value, unit)} | {_fmt(base, unit)} | {ratio} | "
                     f"{r.get('floor', '')} | {ok} |")
    return "\n".join(lines)


def run(coro: Any) -> Any:
    """Run on uvloop, as the load generator does (``bench.signal.worker.run``)."""
    from bench.signal import worker

    return worker.run(coro)


# the classroom ------------------------------------------------------------------------------

@dataclass
class Measured:
    """Latencies (ms) from the teacher's send to every member's receipt, by kind."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    refused: list[Any] = field(default_factory=list)
    stray: int = 0  # receipts of messages this measurement did not send
    seconds: float = 0.0
    sent: int = 0
    node_cpu_s: float = 0.0  # CPU time the node's event loop ran meanwhile

    def received(self, kind: str) -> int:
        return len(self.latencies.get(kind, []))

    def complete(self) -> bool:
        return not self.refused and not self.stray and all(
            self.received(k) == n for k, n in self.expected.items())


class Classroom:
    """A node and one room: ``members`` students in worker processes, the teacher here."""

    def __init__(self, members: int, workers: int = 2, parallel: int = 200) -> None:
        self.members = members
        self.n_workers = max(1, min(workers, members))
        self.parallel = parallel
        self.node = TkroomNode(env=NODE_ENV)
        self.stack = contextlib.AsyncExitStack()
        self.loadavg: list[float] = []

    def node_cpu(self) -> float:
        """The CPU seconds the node's event loop (its main thread) has run so far, from
        Linux's scheduler statistics (nanoseconds, not clock ticks): what a message costs
        the node, unlike its latency, hardly depends on what else the machine runs."""
        return int(Path(f"/proc/{self.node.pid}/schedstat").read_text().split()[0]) / 1e9

    async def __aenter__(self) -> Classroom:
        async with contextlib.AsyncExitStack() as stack:
            affinity = os.sched_getaffinity(0)
            stack.callback(os.sched_setaffinity, 0, affinity)
            cpus = sorted(affinity)
            if len(cpus) > 1:
                os.sched_setaffinity(0, set(cpus[1:]))  # the workers inherit it
            stack.callback(shutil.rmtree, self.node.tmp, ignore_errors=True)
            self.node.start(cpus[0] if len(cpus) > 1 else None)
            stack.callback(self.node.stop)
            teacher, creds = self.node.credentials(self.members)
            shares = [creds[i::self.n_workers] for i in range(self.n_workers)]
            self.receivers = [len(s) for s in shares]
            self.workers = Workers(self.n_workers, DIALECT, self.node.host, self.node.port,
                                   max(1, self.parallel // self.n_workers))
            stack.callback(self.workers.close)
            stack.push_async_callback(self.workers.all, "close")
            joined = await self.workers.ask([("join", s) for s in shares])
            ok = sum(j["ok"] for j in joined)
            if ok < self.members:
                errors = [e for j in joined for e in j["errors"]][:3]
                raise RuntimeError(f"{self.members - ok} of {self.members} joins failed: {errors}")
            self.dialect = Board(Counters())
            self.ws = await RawWS.open(self.node.host, self.node.port, self.dialect.path,
                                       self.dialect.on_text)
            stack.callback(self.ws.close)
            await asyncio.wait_for(self.dialect.join(self.ws, teacher), 60)
            await self.request("pubMsg", show_page())
            self.loadavg.append(os.getloadavg()[0])
            self.stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.loadavg.append(os.getloadavg()[0])
        await self.stack.aclose()

    async def request(self, ev: str, data: dict[str, Any]) -> None:
        """One request from the teacher; refused is an error."""
        ack = await asyncio.wait_for(self.dialect.request(self.ws, ev, data), 60)
        if ack.get("code") != 0:
            raise RuntimeError(f"{ev} refused with {ack.get('code')}: {ack.get('msg')}")

    async def measure(self, plan: Plan, rate: float, wait_s: float = 60) -> Measured:
        """Send ``plan`` at ``rate`` messages per second; every message goes to every member."""
        kinds = collections.Counter(key.split(":", 1)[0] for key, _, _ in plan)
        out = Measured(expected={k: n * self.members for k, n in kinds.items()})
        await self.workers.ask([("arm", ("marks", n * len(plan))) for n in self.receivers])
        sent: dict[str, int] = {}
        acks = []
        cpu, start = self.node_cpu(), time.monotonic()
        for i, (key, ev, data) in enumerate(plan):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[key] = time.monotonic_ns()
            acks.append(self.dialect.request(self.ws, ev, data))
        answers = await asyncio.wait_for(asyncio.gather(*acks), wait_s)
        out.refused = [(a.get("code"), a.get("msg")) for a in answers if a.get("code") != 0]
        got = await self.workers.all("wait", wait_s)
        out.seconds, out.sent = time.monotonic() - start, len(plan)
        out.node_cpu_s = self.node_cpu() - cpu
        await self.workers.ask([("arm", ("idle", 0)) for _ in self.receivers])
        for g in got:
            for key, t in g["marks"]:
                if key not in sent:
                    out.stray += 1
                    continue
                out.latencies.setdefault(key.split(":", 1)[0], []).append((t - sent[key]) / 1e6)
        return out

    async def barrier(self) -> None:
        """Return once every member has received everything sent before: one chat message
        reaches each member behind all earlier events (a socket's events stay in order). It
        is counted by ``bench.signal``'s own chat path, so a backlog of strokes still
        arriving is not mistaken for measured messages."""
        await self.workers.ask([("arm", ("chat", n)) for n in self.receivers])
        await self.request("sendMessage", {"toID": "__all",
                                           "message": {"t0": time.monotonic_ns(), "k": "sync"}})
        got = await self.workers.all("wait", 60)
        await self.workers.ask([("arm", ("idle", 0)) for _ in self.receivers])
        received = sum(len(g["latencies"]) for g in got)
        if received != self.members:
            raise RuntimeError(f"a chat message reached {received} of {self.members} members")

    async def fill(self, plan: Plan, window: int = 16) -> float:
        """Send ``plan`` as fast as the acks come back (``window`` in flight); seconds taken."""
        start = time.monotonic()
        pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        for _, ev, data in plan:
            pending.append(self.dialect.request(self.ws, ev, data))
            while len(pending) >= window or (pending and pending[0].done()):
                ack = await asyncio.wait_for(pending.popleft(), 60)
                if ack.get("code") != 0:
                    raise RuntimeError(f"{ev} refused with {ack.get('code')}: {ack.get('msg')}")
        for fut in pending:
            ack = await asyncio.wait_for(fut, 60)
            if ack.get("code") != 0:
                raise RuntimeError(f"{ev} refused with {ack.get('code')}: {ack.get('msg')}")
        return time.monotonic() - start

    async def late_join(self, userid: str) -> dict[str, Any]:
        """A student joining now with a real WebSocket client: the join answer's size, the
        time from sending ``joinRoom`` until the whole answer is in, and the shapes it holds
        (saved ``SharpsChange`` messages in ``msglist``, or entries of the compact ``board``)."""
        from websockets.asyncio.client import connect

        ident = tickets.Identity(self.node.serial, userid, 2, userid)
        ticket = tickets.issue(self.node.secret, ident, time.time(), 600)
        url = f"ws://{self.node.host}:{self.node.port}/signal"
        async with connect(url, max_size=None, compression=None, open_timeout=30) as ws:
            t0 = time.monotonic()
            await ws.send(json.dumps({"id": 1, "ev": "joinRoom", "data": {"ticket": ticket}}))
            for _ in range(1000):
                raw = await asyncio.wait_for(ws.recv(decode=False), 60)
                elapsed = time.monotonic() - t0
                frame = json.loads(raw)
                if frame.get("ack") == 1:
                    break
            else:
                raise RuntimeError("no joinRoom answer among 1000 frames")
            if frame.get("code") != 0:
                raise RuntimeError(f"late joinRoom refused: {frame}")
            data = frame["data"]
            shapes = sum(1 for m in data.get("msglist", []) if m.get("name") == "SharpsChange")
            shapes += sum(len(v) for v in (data.get("board") or {}).values())
            await ws.send(json.dumps({"id": 2, "ev": "leaveRoom", "data": {}}))
            for _ in range(1000):  # leave for good (a closed socket would wait out its grace)
                if json.loads(await asyncio.wait_for(ws.recv(), 30)).get("ack") == 2:
                    break
        return {"bytes": len(raw), "ms": elapsed * 1000, "shapes": shapes}
