"""``python -m bench.playback``: seeking in a long recorded lesson on the playback page.

A synthetic three-hour lesson's event log (``--minutes``, default 180: page turns every few
minutes, ``--shapes`` strokes with erases and clears, chat, people coming and going) is served
with the web plane's routes; Debian's Chromium loads the page's own module
(``/playback-page/timeline.js``) and measures, in the browser:

- reading the log and building its time index once (what the page does when it opens);
- a seek with the index: the state at a random moment (page shown, its shapes, the chat so
  far, who is present) and the board redrawn at 1280×960 — what the page does on each seek;
- the baseline, in the same run: the same seeks without an index, replaying the log from the
  start to the moment (then the same redraw).

Prints one table (measure, value, baseline, ratio, floor, ok) and writes JSON
(``bench/playback/results.json`` unless ``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from bench.whiteboard.common import row, table
from tkroom.web import web_routes

HERE = Path(__file__).resolve().parent
SEEK_FLOOR_MS = 100.0  # a seek (lookup and redraw) must feel instant
OPEN_FLOOR_MS = 5000.0  # opening a three-hour lesson


def lesson(minutes: int, shapes: int, seed: int = 7) -> str:
    """The event log of a long lesson, as docs/recordings.md writes it."""
    rnd = random.Random(seed)
    end = minutes * 60_000
    users = [{"id": f"u{i}", "properties": {"nickname": f"Student {i}", "role": 2}} for i in range(60)]
    teacher = {"id": "t", "properties": {"nickname": "Teacher", "role": 0}}
    lines: list[dict[str, Any]] = [{"v": 1, "kind": "start", "t": 0, "at_ms": 1_767_000_000_000,
                                    "serial": "1", "room": {}, "members": [teacher, *users[:40]],
                                    "saved": []}]
    events: list[tuple[int, str, dict[str, Any]]] = []
    pages = max(1, minutes // 6)
    for p in range(pages):
        events.append((p * end // pages, "pubMsg", {"name": "ShowPage", "id": "DocumentFilePage_ShowPage",
                                                     "data": {"fileid": 5, "currpage": p + 1, "pagenum": pages}}))
        if p % 5 == 4:  # a clear now and then
            events.append(((p + 1) * end // pages - 1000, "pubMsg", {
                "name": "SharpsChange", "id": f"clear###_SharpsChange_5_{p + 1}", "data": {"eventType": "clearEvent"}}))
    for i in range(shapes):
        t = rnd.randrange(end)
        page = min(pages, t * pages // end + 1)
        x, y = rnd.random(), rnd.random()
        pts = []
        for _ in range(40):
            x, y = min(1, max(0, x + rnd.uniform(-0.01, 0.01))), min(1, max(0, y + rnd.uniform(-0.01, 0.01)))
            pts += [round(x, 4), round(y, 4)]
        mid = f"s{i}###_SharpsChange_5_{page}"
        events.append((t, "pubMsg", {"name": "SharpsChange", "id": mid, "save": True, "seq": i + 1,
                                     "data": {"eventType": "shapeSaveEvent", "shapeId": f"s{i}", "className": "Pen",
                                              "data": {"points": pts, "color": "#e53935", "width": 0.004}}}))
        if rnd.random() < 0.05:
            events.append((min(end - 1, t + rnd.randrange(1, 60_000)), "delMsg", {"name": "SharpsChange", "id": mid}))
    for i in range(shapes // 5):
        who = rnd.choice([teacher, *users])
        events.append((rnd.randrange(end), "sendMessage", {"fromID": who["id"], "nickname": who["properties"]["nickname"],
                                                           "role": who["properties"]["role"], "toID": "__all",
                                                           "message": {"msg": f"message {i}"}}))
    for u in users:
        for _ in range(3):
            events.append((rnd.randrange(end), "participantLeft", {"id": u["id"]}))
            events.append((rnd.randrange(end), "participantJoined", u))
    events.sort(key=lambda e: e[0])
    lines += [{"t": t, "kind": "event", "name": n, "data": d} for t, n, d in events]
    lines.append({"t": end, "kind": "end"})
    return "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines)


# Runs in the page: the module's own index against a replay from the start, same redraw.
MEASURE_JS = """async ([seeks, seed]) => {
  const { parseLog, buildTimeline } = await import('/playback-page/timeline.js');
  const { drawShape } = await import('/classroom/shapes.js');
  const t0 = performance.now();
  const text = await (await fetch('/bench/events.jsonl')).text();
  const t1 = performance.now();
  const lines = parseLog(text);
  const tl = buildTimeline(lines);
  const t2 = performance.now();
  const canvas = new OffscreenCanvas(1280, 960);
  const g = canvas.getContext('2d');
  const draw = (shapes) => {
    g.clearRect(0, 0, 1280, 960);
    for (const s of shapes) drawShape(g, 1280, 960, s);
  };
  let x = seed;
  const rand = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  const times = Array.from({ length: seeks }, () => Math.floor(rand() * tl.duration));
  const withIndex = [];
  const replay = [];
  let drawn = 0;
  for (const t of times) {
    const a = performance.now();
    const page = tl.pageAt(t);
    const shapes = tl.shapesAt(page.key, t);
    tl.chatUpTo(t);
    tl.presentAt(t);
    draw(shapes);
    withIndex.push(performance.now() - a);
    drawn += shapes.length;
    const b = performance.now();
    const upTo = buildTimeline(lines.filter((l) => l.kind === 'start' || (typeof l.t === 'number' && l.t <= t)));
    const p2 = upTo.pageAt(t);
    const again = upTo.shapesAt(p2.key, t);
    draw(again);
    upTo.chatUpTo(t);
    upTo.presentAt(t);
    replay.push(performance.now() - b);
    if (p2.key !== page.key || again.map((s) => s.shapeId).join() !== shapes.map((s) => s.shapeId).join()) {
      throw new Error('the index and the replay disagree at ' + t);
    }
  }
  return { bytes: text.length, lines: lines.length, fetchMs: t1 - t0, indexMs: t2 - t1,
           withIndex, replay, shapesPerSeek: drawn / seeks, duration: tl.duration };
}"""


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """The app on a free loopback port, in a thread; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start in 15 s")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.playback", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=int, default=180, help="the lesson's length (180)")
    p.add_argument("--shapes", type=int, default=20000, help="strokes drawn in it (20000)")
    p.add_argument("--seeks", type=int, default=60, help="random seeks measured (60)")
    p.add_argument("--out", type=Path, default=HERE / "results.json")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    started, load_before = time.time(), os.getloadavg()[0]
    body = lesson(args.minutes, args.shapes).encode()

    async def events(request: Any) -> Response:
        return Response(body, media_type="application/x-ndjson")

    app = Starlette(routes=[Route("/bench/events.jsonl", events), *web_routes()])
    with serve(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(f"{url}/sdk/tkroom.js")  # any page of the origin: the modules import from it
        got = page.evaluate(MEASURE_JS, [args.seeks, 12345])
        browser.close()
    idx, rep = got["withIndex"], got["replay"]
    mean_i, mean_r = sum(idx) / len(idx), sum(rep) / len(rep)
    rows = [
        row(f"event log: {args.minutes} min, {args.shapes} strokes", got["bytes"] / 1e6, "MB",
            lines=got["lines"]),
        row("open: read the log and build the index", got["indexMs"], "ms",
            floor=f"≤ {OPEN_FLOOR_MS:.0f} ms", ok=got["indexMs"] <= OPEN_FLOOR_MS),
        row(f"seek, mean ({args.seeks} random; state + redraw of {got['shapesPerSeek']:.0f} shapes)",
            mean_i, "ms", baseline=mean_r),
        row("seek, p95", pct(idx, 0.95), "ms", baseline=pct(rep, 0.95),
            floor=f"≤ {SEEK_FLOOR_MS:.0f} ms", ok=pct(idx, 0.95) <= SEEK_FLOOR_MS),
        row("seek, max", max(idx), "ms", baseline=max(rep)),
    ]
    print(table(rows))
    print("\nbaseline: the same seeks replaying the log from the start (no index), same redraw")
    print(f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"{os.cpu_count()} cores; {time.time() - started:.0f} s")
    args.out.write_text(json.dumps({
        "bench": "playback", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": platform.platform(), "cpus": os.cpu_count(), "loadavg_before": load_before,
        "loadavg_after": os.getloadavg()[0], "args": {k: str(v) for k, v in vars(args).items()},
        "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
