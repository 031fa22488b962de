"""Scale: one class on one node beside the same class size per node split over two nodes.

Per phase: every member (raw WebSockets held by ``bench.signal``'s worker processes, one group
of workers per node, each connected to its node) joins; the teacher, on the first node, sends
``chats`` chats at ``rate``/s to ``__all`` (latency from the send stamp to the receipt at every
member, p50/p99 per node) and then ``pubs`` pubMsgs with ``window`` unacknowledged
(deliveries per second per node = receipts at that node's members / time from the first send
to that node's last receipt). The node under the teacher fans out to its own sockets; the
other node gets every event through Redis and fans it out to its own.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bench.cluster.nodes import Cluster
from bench.signal.__main__ import Workers, percentile
from bench.signal.dialects import Counters, Tkroom
from bench.signal.rawws import RawWS


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def phase(redis_url: str, nodes: int, members: int, *, chats: int, rate: float, pubs: int,
                window: int, workers: int, parallel: int, redis_pid: int | None = None,
                ) -> dict[str, Any]:
    """One class of ``members`` per node over ``nodes`` nodes, node i pinned to core i.

    Besides the latencies and rates, the CPU time each node (and Redis) spent during the
    pubMsg part per delivery it made: on a machine where the load generators share the nodes'
    cores, that is the figure that says whether the cluster costs more per message."""
    cpus = os.cpu_count() or 1
    cluster = Cluster(redis_url)
    out: dict[str, Any] = {"nodes": nodes, "members_per_node": members,
                           "members": nodes * members, "loadavg_before": os.getloadavg()[0]}
    groups: list[Workers] = []
    try:
        cluster.start([i if i < cpus else None for i in range(nodes)])
        for i in range(nodes):
            groups.append(Workers(workers, "tkroom", cluster.host, cluster.ports[i],
                                  max(1, parallel // (workers * nodes))))
        shares = [[c[w::workers] for w in range(workers)]
                  for c in (cluster.credentials(f"n{i}s", members) for i in range(nodes))]
        t0 = time.monotonic()
        joined = await asyncio.gather(*(g.ask([("join", s) for s in sh])
                                        for g, sh in zip(groups, shares, strict=True)))
        out["join_storm_s"] = max(j["t"] for js in joined for j in js) - t0
        out["joined"] = sum(j["ok"] for js in joined for j in js)
        errors = [e for js in joined for j in js for e in j["errors"]]
        if out["joined"] < nodes * members:
            raise RuntimeError(f"{nodes * members - out['joined']} joins failed: {errors[:3]}")

        dialect = Tkroom(Counters())
        sender = await RawWS.open(cluster.host, cluster.ports[0], dialect.path, dialect.on_text)
        await asyncio.wait_for(dialect.join(sender, {"ticket": cluster.ticket("teacher", 0)}), 60)

        await asyncio.gather(*(g.ask([("arm", ("chat", len(s) * chats)) for s in sh])
                               for g, sh in zip(groups, shares, strict=True)))
        for k in range(chats):
            dialect.request(sender, "sendMessage",
                            {"toID": "__all", "message": {"t0": time.monotonic_ns(), "k": k}})
            await asyncio.sleep(1 / rate)
        got = await asyncio.gather(*(g.all("wait", 60) for g in groups))
        per_node = []
        for i, g in enumerate(got):
            lat = sorted(x for w in g for x in w["latencies"])
            per_node.append({"node": i, "chat_expected": members * chats,
                             "chat_received": len(lat), "chat_p50_ms": percentile(lat, 0.5),
                             "chat_p99_ms": percentile(lat, 0.99)})

        await asyncio.gather(*(g.ask([("arm", ("pub", len(s) * pubs)) for s in sh])
                               for g, sh in zip(groups, shares, strict=True)))
        pids = [p.pid for p in cluster.procs]
        cpu0 = [cpu_s(p) for p in pids]
        redis0 = cpu_s(redis_pid) if redis_pid else 0.0
        t_start = time.monotonic()
        inflight: list[asyncio.Future[Any]] = []
        for k in range(pubs):
            inflight.append(dialect.request(sender, "pubMsg", {
                "name": "bench", "id": f"bench{k % 8}", "toID": "__all", "save": False,
                "data": {"k": k}}))
            if len(inflight) >= window:
                await asyncio.wait_for(inflight.pop(0), 60)
        await asyncio.wait_for(asyncio.gather(*inflight), 60)
        got = await asyncio.gather(*(g.all("wait", 60) for g in groups))
        cpu1 = [cpu_s(p) for p in pids]
        total = 0
        for i, g in enumerate(got):
            delivered = sum(w["pub"] for w in g)
            total += delivered
            last = max(w["last"] for w in g)
            per_node[i].update(pub_expected=members * pubs, pub_delivered=delivered,
                               deliveries_per_s=delivered / max(1e-9, last - t_start),
                               pub_cpu_s=cpu1[i] - cpu0[i],
                               cpu_us_per_delivery=1e6 * (cpu1[i] - cpu0[i]) / max(1, delivered))
        if redis_pid:
            out["redis_cpu_us_per_delivery"] = 1e6 * (cpu_s(redis_pid) - redis0) / max(1, total)
        sender.close()
        out["per_node"] = per_node
        out["loadavg_after"] = os.getloadavg()[0]
        return out
    finally:
        for group in groups:
            await group.all("close")
            group.close()
        cluster.stop()
