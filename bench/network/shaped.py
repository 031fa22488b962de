"""``python -m bench.network.shaped``: a student on a shaped link, Chromium on both ends (root).

A real node and Janus in a network namespace; the teacher's Chromium (fake camera, simulcast)
publishes from the classroom page; a student's Chromium runs in a namespace of its own behind
the server's veth, shaped with ``tc tbf`` (and an ``iptables`` random drop for loss;
``tkroom.media.shaping``). Rows, all from one run:

1. ``subscribe()`` → first decoded frame at the student, p50/p95 over ``--tries`` tries, on an
   unshaped link (the baseline) and on a 1 Mbit/s link; and the teacher's ``publishVideo``
   → the student's first frame (the whole path: camera, publish, ``onAddStream``, subscribe),
   unshaped and on 1 Mbit/s.
2. The same, unshaped, with the browser SDK answering Janus as the DTLS client (its old
   behaviour, ``dtlsPassive: false``) and as the DTLS server (``setup:passive``, now).
3. The frames per second and picture size a 300 kbit/s subscriber with 2 % loss keeps once
   moved to the low layer, over ``--seconds`` (sampled each half second: the fps over the
   time spent on the low layer, the share of time there, and the overall fps including the
   node's tries one layer up). Floor: ≥ 15 fps at the low layer.

Alone it prints a table and writes JSON to ``bench/results/network-shaped-<time>.json``; it is
also a measurement of ``python -m bench.network`` (its own namespace, node and Janus: Chromium
needs the node's page, which the package's shared stage does not serve). There, "vs direct" is
against the same measurement of this module on the unshaped link (Chromium, direct UDP).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the browser tests' node and page helpers

from bench.network.registry import measurement  # noqa: E402
from browser.classnode import PASSWORDS, ClassNode  # noqa: E402
from browser.conftest import BASE_ARGS, FAKE_MEDIA  # noqa: E402
from browser.test_classroom_e2e import Person, wait_until  # noqa: E402
from media.conftest import start_janus, stop_process  # noqa: E402
from tkroom.media.netns import NetNamespace  # noqa: E402
from tkroom.media.shaping import StudentLink  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FLOOR_FPS = 15.0

# One subscription timed in the page: drop the current one, subscribe again, poll getStats
# every 5 ms until a frame is decoded.
FIRST_FRAME_JS = """async ([uid, passive]) => {
  const room = tkroomPage.room;
  room.options.dtlsPassive = passive;
  const entry = [...room.remote.values()].find((e) => e.userId === uid && e.type === "video");
  const old = room.subs.get(entry.streamId);
  if (old) { room.subs.delete(entry.streamId); await old.stop(true); }
  const t0 = performance.now();
  await room.subscribe(entry.streamId);
  const sub = room.subs.get(entry.streamId);
  while (performance.now() - t0 < 15000) {
    const s = await sub.stats();
    if (s.framesDecoded > 0) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5));
  }
  return null;
}"""


def publish_to_frame(teacher: Person, student: Person, uid: str, tries: int) -> dict[str, Any]:
    """The teacher turns the camera on (``publishVideo``: camera, simulcast publish, the
    media server's ``onAddStream``, the student's subscription) until the student's page
    reports the first frame (``room-first-video-frame``); both pages read the same machine
    clock. Between tries the camera goes off and the student's tile empties."""
    times: list[float] = []
    student.eval(f"window.__ff = null; tkroomPage.room.on('room-first-video-frame', (e) => "
                 f"{{ if (e.userId === '{uid}' && e.type === 'video') window.__ff = Date.now(); }})")
    for _ in range(tries):
        teacher.eval("tkroomPage.room.unpublishAV()")
        wait_until(lambda: not student.eval(f"[...tkroomPage.room.remote.values()].some((e) => "
                                            f"e.userId === '{uid}' && e.type === 'video')"),
                   20, "the camera gone at the student")
        student.eval("window.__ff = null")
        t0 = teacher.eval("(() => { const t = Date.now(); tkroomPage.room.publishVideo(); "
                          "return t; })()")
        try:
            t1 = wait_until(lambda: student.eval("window.__ff"), 20, "the first frame")
        except AssertionError:
            continue
        times.append(float(t1) - float(t0))
    return summary(times, tries)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def first_frames(student: Person, uid: str, tries: int,
                 modes: tuple[bool, ...] = (True,)) -> list[dict[str, Any]]:
    """First-frame times for each DTLS mode (True: setup:passive), the modes interleaved try
    by try so warm-up and machine load fall on all of them alike."""
    times: list[list[float]] = [[] for _ in modes]
    for _ in range(tries):
        for i, passive in enumerate(modes):
            ms = student.page.evaluate(FIRST_FRAME_JS, [uid, passive])
            if ms is not None:
                times[i].append(float(ms))
    return [summary(t, tries) for t in times]


def summary(times: list[float], tries: int) -> dict[str, Any]:
    failed = tries - len(times)
    if not times:
        return {"tries": tries, "failed": failed}
    return {"tries": tries, "failed": failed, "p50_ms": round(percentile(times, 0.5), 1),
            "p95_ms": round(percentile(times, 0.95), 1), "max_ms": round(max(times), 1)}


def keeps(student: Person, uid: str, seconds: float, low: int) -> dict[str, Any]:
    """Frames decoded per second over ``seconds``, sampled every half second: overall, and
    over the intervals spent on the low layer (the node tries a layer up now and then; those
    tries are counted, not hidden)."""
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s = student.stats(uid)
        samples.append((time.monotonic(), s["framesDecoded"], s["frameWidth"], s["frameHeight"]))
        time.sleep(0.5)
    at_low_frames = at_low_time = 0.0
    for (t0, f0, w0, _), (t1, f1, w1, _) in zip(samples, samples[1:], strict=False):
        if w0 == low and w1 == low:
            at_low_frames += f1 - f0
            at_low_time += t1 - t0
    total = samples[-1][0] - samples[0][0]
    heights = {w: h for _, _, w, h in samples}
    return {"fps": round((samples[-1][1] - samples[0][1]) / total, 1),
            "fps_at_low": round(at_low_frames / at_low_time, 1) if at_low_time else 0.0,
            "share_at_low": round(at_low_time / total, 2), "width": low,
            "height": heights.get(low, 0), "seconds": round(total, 1),
            "widths_seen": sorted({w for _, _, w, _ in samples}),
            "width_changes": [[round(t - samples[0][0], 1), w] for i, (t, _, w, _) in
                              enumerate(samples) if i == 0 or samples[i - 1][2] != w]}


def run(tries: int, seconds: float, work: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    ns = NetNamespace.create("tkn")
    janus_proc = None
    link = None
    try:
        janus_proc, janus = start_janus(ns, work / "janus")
        link = StudentLink.create(ns)
        with ClassNode(ns, janus.url, work / "node", host="0.0.0.0") as node, \
                link.forward(node.port, node.signal.port):
            launcher = work / "chromium-in-ns"
            launcher.write_text(f"#!/bin/sh\nexec ip netns exec {link.student.name} "
                                f'/usr/bin/chromium "$@"\n')
            launcher.chmod(0o755)
            with ns.entered():
                pw = sync_playwright().start()
            try:
                tb = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=BASE_ARGS + FAKE_MEDIA)
                sb = pw.chromium.launch(executable_path=str(launcher), headless=True,
                                        args=BASE_ARGS + FAKE_MEDIA)
                url = f"{node.url}/room/{node.create_room('Network bench')}"
                teacher, student = Person(tb, url), Person(sb, url)
                uid = teacher.join("Teacher", PASSWORDS["chairmanpwd"])
                student.join("Student", PASSWORDS["confuserpwd"])
                teacher.click("av-on")
                student.decodes(uid, 30, 60)
                out: dict[str, Any] = {}
                print("first frames, unshaped: DTLS server (now) and client (before) ...",
                      file=sys.stderr)
                out["unshaped"], out["dtls_active"] = first_frames(student, uid, tries,
                                                                   (True, False))
                print("publish → first frame, unshaped ...", file=sys.stderr)
                out["publish_unshaped"] = publish_to_frame(teacher, student, uid, tries)
                print("first frames, 1 Mbit/s ...", file=sys.stderr)
                link.shape(1000)
                out["shaped_1mbit"], = first_frames(student, uid, tries)
                print("publish → first frame, 1 Mbit/s ...", file=sys.stderr)
                out["publish_1mbit"] = publish_to_frame(teacher, student, uid, tries)
                teacher.eval("tkroomPage.room.publishAV()")
                student.decodes(uid, 30, 60)
                print("300 kbit/s with 2 % loss ...", file=sys.stderr)
                # a student who joins on that link: nothing learned about it yet
                student.close()
                link.shape(300, loss_percent=2)
                student = Person(sb, url)
                student.join("Weak link", PASSWORDS["confuserpwd"])
                student.eval("window.__layers = []; tkroomPage.room.on("
                             "'room-video-layer-changed', (e) => window.__layers.push("
                             "[Math.round(performance.now()), e.layer, e.reason]))")
                student.decodes(uid, 1, 60)
                t0, since = time.monotonic(), student.eval("performance.now()")
                low = min(x["width"] for x in teacher.eval(
                    "tkroomPage.room.getPublishLayers('video')") if x["width"] > 0)
                wait_until(lambda: student.stats(uid).get("frameWidth") == low, 90,
                           "the low layer at 300 kbit/s")
                out["kbit300"] = {"moved_down_s": round(time.monotonic() - t0, 1),
                                  **keeps(student, uid, seconds, low),
                                  "layer_changes": [[round((t - since) / 1000, 1), la, why]
                                                    for t, la, why in
                                                    student.eval("window.__layers")]}
                link.clear()
                teacher.close()
                student.close()
            finally:
                pw.stop()
        return out
    finally:
        if link is not None:
            link.delete()
        if janus_proc is not None:
            stop_process(janus_proc)
        ns.delete()


def table(r: dict[str, Any]) -> str:
    base = r["unshaped"].get("p95_ms") or 0

    def row(name: str, d: dict[str, Any]) -> str:
        if "p50_ms" not in d:
            return f"| {name} | failed {d['failed']}/{d['tries']} | | |"
        ratio = f"{d['p95_ms'] / base:.2f}×" if base else "-"
        return f"| {name} | {d['p50_ms']:.0f} | {d['p95_ms']:.0f} | {ratio} |"

    def row2(name: str, d: dict[str, Any], b: dict[str, Any]) -> str:
        if "p50_ms" not in d:
            return f"| {name} | failed {d['failed']}/{d['tries']} | | |"
        ratio = f"{d['p95_ms'] / b['p95_ms']:.2f}×" if b.get("p95_ms") else "-"
        return f"| {name} | {d['p50_ms']:.0f} | {d['p95_ms']:.0f} | {ratio} |"

    k = r["kbit300"]
    lines = [
        "| subscribe → first frame (Chromium) | p50 ms | p95 ms | p95 vs unshaped |",
        "|---|---|---|---|",
        row("unshaped link, setup:passive (baseline)", r["unshaped"]),
        row("unshaped link, browser as DTLS client (before)", r["dtls_active"]),
        row("1 Mbit/s link", r["shaped_1mbit"]),
        "",
        "| teacher's publishVideo → student's first frame (Chromium) | p50 ms | p95 ms | "
        "p95 vs unshaped |",
        "|---|---|---|---|",
        row2("unshaped link (baseline)", r["publish_unshaped"], r["publish_unshaped"]),
        row2("1 Mbit/s link", r["publish_1mbit"], r["publish_unshaped"]),
        "",
        f"| 300 kbit/s + 2 % loss, {k['seconds']} s | fps at the low layer | low layer | "
        "time at low | fps overall (incl. tries up) | widths seen | floor ≥ 15 fps at low |",
        "|---|---|---|---|---|---|---|",
        f"| low layer {k['moved_down_s']} s after the first frame | {k['fps_at_low']} | "
        f"{k['width']}x{k['height']} | {k['share_at_low']:.0%} | {k['fps']} | "
        f"{k['widths_seen']} | {'met' if k['fps_at_low'] >= FLOOR_FPS else 'NOT met'} |",
    ]
    return "\n".join(lines)


def rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The result as ``bench.network`` rows."""
    base = r["unshaped"]
    out: list[dict[str, Any]] = []
    for key, name in (("unshaped", "Chromium subscribe → first frame, setup:passive (baseline)"),
                      ("dtls_active", "Chromium subscribe → first frame, DTLS client (before)"),
                      ("shaped_1mbit", "Chromium subscribe → first frame, 1 Mbit/s link"),
                      ("publish_unshaped", "Chromium publish → Chromium first frame, unshaped "
                                           "(baseline)"),
                      ("publish_1mbit", "Chromium publish → Chromium first frame, 1 Mbit/s")):
        row = {"row": name, **r[key]}
        # each row against the same measurement on the unshaped link (the baselines: none)
        b = {"dtls_active": base, "shaped_1mbit": base,
             "publish_1mbit": r["publish_unshaped"]}.get(key, {})
        if "p50_ms" in row and "p50_ms" in b:
            row["p50_vs_direct"] = row["p50_ms"] / b["p50_ms"]
            row["p95_vs_direct"] = row["p95_ms"] / b["p95_ms"]
        out.append(row)
    k = r["kbit300"]
    out.append({"row": "300 kbit/s + 2 % loss subscriber", **k,
                "floor": f"≥ {FLOOR_FPS:g} fps at the low layer",
                "floor_met": k["fps_at_low"] >= FLOOR_FPS})
    return out


@measurement("shaped link", order=50)
async def measure(env: Any, tries: int) -> list[dict[str, Any]]:
    """``bench.network``'s entry: the whole scenario in a thread (sync Playwright)."""
    def go() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="tkr-shaped-") as tmp:
            return run(tries, 30.0, Path(tmp))
    return rows(await asyncio.to_thread(go))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tries", type=int, default=20)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--json", type=Path, help="where to write the JSON (default bench/results/)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench.network.shaped needs root (network namespaces, tc)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tkr-shaped-") as tmp:
        result = run(args.tries, args.seconds, Path(tmp))
    print(table(result))
    path = args.json or RESULTS / f"network-shaped-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"\nJSON: {path}")
    return 0 if result["kbit300"]["fps_at_low"] >= FLOOR_FPS else 1


if __name__ == "__main__":
    sys.exit(main())
