"""``python -m bench.media``: the media-plane benchmark (needs root for a network namespace,
and Janus).

1. First frame: time from ``publishVideo`` (SDK) to the first decoded frame at a subscriber
   (which waits for ``onAddStream``, then ``playVideo``), p50/p95 over ``--tries`` tries.
   Floor: p95 under 1 s.
2. Fan-out: one 640x480 30 fps publisher to N subscribers. Media-server CPU per subscriber:
   Janus (through tkroom) beside an aiortc-only relay (``MediaRelay`` in one Python process,
   ``bench/media/relay.py``), same publisher, same subscribers, same run. CPU is read from
   ``/proc/PID/stat`` over ``--seconds``; per subscriber = (CPU with N − CPU with 0) / N.
3. Control plane: setting up N subscriptions on bare Janus (our Janus client straight to the
   VideoRoom API) versus through tkroom (SDK → MediaService → Janus): time until every
   subscriber has its first frame.

Everything runs in a private network namespace; prints a table, writes JSON to
``bench/results/media-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiortc import RTCSessionDescription

from tkroom.client.media import MediaClient, answer_as_dtls_server, new_peer
from tkroom.client.media import _wait_connected as wait_connected
from tkroom.client.sources import PatternTrack
from tkroom.directory import RoomInfo
from tkroom.media.janus_client import JanusConnection
from tkroom.media.janus_process import JanusProcess, JanusSettings
from tkroom.media.netns import NetNamespace
from tkroom.media.servers import MediaServer, ServerRegistry
from tkroom.media.service import MEDIA_EVENTS, MediaService

RESULTS = Path(__file__).resolve().parent.parent / "results"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class Sink:
    """Delivers the service's events to the in-process SDK clients (no signal server)."""

    def __init__(self) -> None:
        self.clients: dict[tuple[str, str], MediaClient] = {}

    async def to_user(self, serial: str, userid: str, ev: str, data: dict[str, Any]) -> None:
        c = self.clients.get((serial, userid))
        if c is not None:
            await c.dispatch(ev, data)

    async def to_room(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        for (s, _), c in list(self.clients.items()):
            if s == serial:
                await c.dispatch(ev, data)

    async def to_nodes(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        """One node: nobody else to tell."""


class Directory:
    async def room(self, serial: str) -> RoomInfo | None:
        return RoomInfo(serial, 1, maxvideo=100)


class Local:
    def __init__(self, service: MediaService, sink: Sink) -> None:
        self.service, self.sink = service, sink

    def user(self, serial: str, userid: str, role: int = 0) -> MediaClient:
        async def request(ev: str, data: dict[str, Any]) -> Any:
            assert ev in MEDIA_EVENTS
            return await self.service.handle(ev, serial, userid, role, data)
        c = MediaClient(request, userid)
        c.serial = serial  # type: ignore[attr-defined]
        self.sink.clients[(serial, userid)] = c
        return c

    async def drop(self, *clients: MediaClient) -> None:
        for c in clients:
            for ls in list(c.local.values()):
                await c._unpublish(ls, quiet=True)
            for sid in list(c.remote):
                await c._unplay(sid)
            await c.close()
            self.sink.clients.pop((c.serial, c.userid), None)  # type: ignore[attr-defined]


async def bench_first_frame(local: Local, tries: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    times: list[float] = []
    for i in range(tries):
        pub, sub = local.user("ff", f"p{i}"), local.user("ff", f"s{i}")
        t0 = loop.time()
        await pub.publishVideo()
        await sub.waitForStream(f"p{i}")
        rs = await sub.playVideo(f"p{i}")
        t1 = await asyncio.wait_for(rs.first_frame, 10)
        times.append(t1 - t0)
        await local.drop(sub, pub)
    return {"tries": tries, "p50_s": statistics.median(times), "p95_s": pct(times, 0.95),
            "max_s": max(times), "all_s": times, "floor_p95_s": 1.0,
            "floor_met": pct(times, 0.95) < 1.0}


async def measure(pid: int, seconds: float, counters: list[Any]) -> tuple[float, float]:
    """CPU share of ``pid`` over the window and the mean fps each subscriber received."""
    c0, f0, t0 = cpu_seconds(pid), [c.frames_received for c in counters], time.monotonic()
    await asyncio.sleep(seconds)
    c1, f1, t1 = cpu_seconds(pid), [c.frames_received for c in counters], time.monotonic()
    fps = statistics.mean([(b - a) / (t1 - t0) for a, b in zip(f0, f1, strict=True)]) \
        if counters else 0.0
    return (c1 - c0) / (t1 - t0), fps


async def fanout_janus(local: Local, janus_pid: int, n: int, seconds: float) -> dict[str, Any]:
    pub = local.user("fan", "pub")
    await pub.publishVideo()
    subs = [local.user("fan", f"v{i}", role=2) for i in range(n)]
    await asyncio.sleep(1.0)
    base, _ = await measure(janus_pid, seconds, [])
    streams = []
    for s in subs:
        await s.waitForStream("pub")
        streams.append(await s.playVideo("pub"))
    await asyncio.gather(*(asyncio.wait_for(r.first_frame, 15) for r in streams))
    await asyncio.sleep(1.0)
    cpu, fps = await measure(janus_pid, seconds, streams)
    await local.drop(*subs, pub)
    return {"subscribers": n, "cpu_idle_pub": base, "cpu": cpu, "fps_per_subscriber": fps,
            "cpu_per_subscriber": (cpu - base) / n}


class RelayChild:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def call(self, **req: Any) -> dict[str, Any]:
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        await self.proc.stdin.drain()
        return json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 30))


class Counter:
    def __init__(self) -> None:
        self.frames_received = 0
        self.first = asyncio.get_running_loop().create_future()

    def feed(self, track: Any) -> None:
        async def run() -> None:
            while True:
                await track.recv()
                self.frames_received += 1
                if not self.first.done():
                    self.first.set_result(None)
        self.task = asyncio.ensure_future(run())


async def fanout_relay(n: int, seconds: float) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.media.relay", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env={**os.environ})
    child = RelayChild(proc)
    pcs = []
    try:
        pub = new_peer()
        pcs.append(pub)
        pub.addTransceiver(PatternTrack(), direction="sendonly")
        await pub.setLocalDescription(await pub.createOffer())
        ans = await child.call(op="publish", sdp=pub.localDescription.sdp)
        await pub.setRemoteDescription(RTCSessionDescription(ans["sdp"], "answer"))
        await asyncio.sleep(2.0)
        base, _ = await measure(proc.pid, seconds, [])
        counters = []
        for _ in range(n):
            offer = await child.call(op="subscribe")
            pc = new_peer()
            pcs.append(pc)
            c = Counter()
            counters.append(c)
            pc.on("track", c.feed)
            await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await child.call(op="answer", id=offer["id"], sdp=pc.localDescription.sdp)
        await asyncio.gather(*(asyncio.wait_for(c.first, 15) for c in counters))
        await asyncio.sleep(1.0)
        cpu, fps = await measure(proc.pid, seconds, counters)
        for c in counters:
            c.task.cancel()
        return {"subscribers": n, "cpu_idle_pub": base, "cpu": cpu, "fps_per_subscriber": fps,
                "cpu_per_subscriber": (cpu - base) / n}
    finally:
        for pc in pcs:
            await pc.close()
        proc.stdin.write(b'{"op": "quit"}\n')
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def control_bare(url: str, secret: str, n: int) -> float:
    """Publish and set up n subscriptions straight on Janus; seconds until all have a frame."""
    loop = asyncio.get_running_loop()
    conn = await JanusConnection.connect(url, apisecret=secret)
    session = await conn.create_session()
    admin = await session.attach()
    room = f"bare-{os.getpid()}-{n}-{time.monotonic_ns()}"
    await admin.message({"request": "create", "room": room, "bitrate": 2_000_000,
                         "publishers": 10})
    pub = await session.attach()
    await pub.message({"request": "join", "room": room, "ptype": "publisher", "id": "p"})
    ppc = new_peer()
    ppc.addTransceiver(PatternTrack(), direction="sendonly")
    await ppc.setLocalDescription(await ppc.createOffer())
    _, answer = await pub.message({"request": "configure", "video": True},
                                  {"type": "offer", "sdp": ppc.localDescription.sdp})
    await ppc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    if not await wait_connected(ppc, 10):
        raise RuntimeError("bare publisher did not connect")
    await asyncio.sleep(0.3)
    pcs, counters = [], []
    t0 = loop.time()

    async def one() -> None:
        h = await session.attach()
        _, offer = await h.message({"request": "join", "room": room, "ptype": "subscriber",
                                    "streams": [{"feed": "p"}]})
        pc = new_peer()
        pcs.append(pc)
        c = Counter()
        counters.append(c)
        pc.on("track", c.feed)
        await h.message({"request": "start"}, await answer_as_dtls_server(pc, offer))
        await asyncio.wait_for(c.first, 15)

    await asyncio.gather(*(one() for _ in range(n)))
    took = loop.time() - t0
    for c in counters:
        c.task.cancel()
    for pc in [*pcs, ppc]:
        await pc.close()
    await session.destroy()
    await conn.close()
    return took


async def control_tkroom(local: Local, n: int, k: int) -> float:
    loop = asyncio.get_running_loop()
    pub = local.user(f"cp{k}", "pub")
    await pub.publishVideo()
    subs = [local.user(f"cp{k}", f"c{i}", role=2) for i in range(n)]
    for s in subs:
        await s.waitForStream("pub")
    t0 = loop.time()

    async def one(s: MediaClient) -> None:
        rs = await s.playVideo("pub")
        await asyncio.wait_for(rs.first_frame, 15)

    await asyncio.gather(*(one(s) for s in subs))
    took = loop.time() - t0
    await local.drop(*subs, pub)
    return took


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="tkroom-bench-media-"))
    janus = JanusProcess(JanusSettings(workdir=work / "janus", ice_enforce_list="v0",
                                       rtp_port_range="20000-40000", debug_level=3))
    await janus.start()
    registry = ServerRegistry()
    sink = Sink()
    service = MediaService(registry, Directory(), sink, record_dir=work / "rec")
    local = Local(service, sink)
    await registry.add(MediaServer("embedded", janus.url, secret=janus.api_secret))
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "platform": platform.platform()}}
    try:
        print("first frame ...", file=sys.stderr)
        out["first_frame"] = await bench_first_frame(local, args.tries)
        out["fanout"] = []
        for n in args.subs:
            print(f"fan-out to {n} ...", file=sys.stderr)
            j = await fanout_janus(local, janus.proc.pid, n, args.seconds)
            r = await fanout_relay(n, args.seconds)
            out["fanout"].append({"subscribers": n, "janus": j, "aiortc_relay": r,
                                  "cpu_resolution_per_subscriber": 2 / TICK / args.seconds / n})
        out["control_plane"] = []
        for n in args.control:
            print(f"control plane with {n} ...", file=sys.stderr)
            bare = [await control_bare(janus.url, janus.api_secret, n)
                    for _ in range(args.control_tries)]
            tk = [await control_tkroom(local, n, k) for k in range(args.control_tries)]
            out["control_plane"].append({
                "subscribers": n, "bare_janus_s": statistics.median(bare),
                "tkroom_s": statistics.median(tk), "bare_janus_p95_s": pct(bare, 0.95),
                "tkroom_p95_s": pct(tk, 0.95),
                "overhead_s": statistics.median(tk) - statistics.median(bare),
                "bare_all": bare, "tkroom_all": tk})
    finally:
        await service.close()
        await registry.close()
        await janus.stop()
    return out


def table(r: dict[str, Any]) -> str:
    ff = r["first_frame"]
    lines = [f"publishVideo -> first decoded frame ({ff['tries']} tries): "
             f"p50 {ff['p50_s'] * 1000:.0f} ms, p95 {ff['p95_s'] * 1000:.0f} ms "
             f"(floor p95 < 1000 ms: {'met' if ff['floor_met'] else 'NOT met'})", "",
             "fan-out 640x480@30 | server | CPU total | CPU/subscriber | fps/subscriber "
             "| subscribers per core"]
    for row in r["fanout"]:
        for name in ("janus", "aiortc_relay"):
            x = row[name]
            per = x["cpu_per_subscriber"]
            cap = f"{1 / per:.0f}" if per > 0.0005 else ">2000"
            lines.append(f"N={row['subscribers']:<3} | {name:<12} | {x['cpu'] * 100:6.1f}% | "
                         f"{per * 100:6.2f}% | {x['fps_per_subscriber']:5.1f} | {cap}")
        j, a = row["janus"]["cpu_per_subscriber"], row["aiortc_relay"]["cpu_per_subscriber"]
        floor = row["cpu_resolution_per_subscriber"]
        if j > floor:
            lines.append(f"       -> Janus carries {a / j:.0f}x more subscribers per core")
        else:
            lines.append(f"       -> Janus's CPU per subscriber is below the measurement "
                         f"resolution ({floor * 100:.3f}%): at least {a / floor:.0f}x more "
                         "subscribers per core")
    lines += ["", "control plane: N subscriptions until every first frame, median (p95) | "
              "bare Janus | tkroom | overhead of the median"]
    for row in r["control_plane"]:
        lines.append(f"N={row['subscribers']:<3} | {row['bare_janus_s'] * 1000:5.0f} "
                     f"({row['bare_janus_p95_s'] * 1000:5.0f}) ms | {row['tkroom_s'] * 1000:5.0f} "
                     f"({row['tkroom_p95_s'] * 1000:5.0f}) ms | {row['overhead_s'] * 1000:+5.0f} ms")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.media", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tries", type=int, default=20)
    p.add_argument("--subs", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--control", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    p.add_argument("--control-tries", type=int, default=9)
    p.add_argument("--json", type=Path, help="where to write the JSON (default bench/results/)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench.media needs root (it creates a network namespace)", file=sys.stderr)
        return 2
    ns = NetNamespace.create("tkrb")
    try:
        with ns.entered():
            result = asyncio.run(run(args))
    finally:
        ns.delete()
    result["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    print(table(result))
    path = args.json or RESULTS / f"media-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
