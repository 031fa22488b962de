"""The classroom tools on two signalling nodes sharing one real Redis: the tally, the buzzer's
winner and the timer are the cluster's, not a node's (docs/tools.md)."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from signal_helpers import SECRET, Client, MemoryDirectory, no_server_errors, ticket  # noqa: F401
from tkroom.directory import RoomInfo
from tkroom.rooms.tools import timer_remaining
from tkroom.signal.server import SignalServer
from tkroom.state import open_state

pytestmark = pytest.mark.redis


@pytest.fixture
async def two_nodes(redis_url):
    """Two nodes on one Redis prefix; ``join(i, uid, role)`` joins through node ``i``."""
    prefix = f"k{secrets.token_hex(4)}"
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room", allowsidelineuser=True)})
    servers: list[SignalServer] = []
    clients: list[Client] = []
    for _ in range(2):
        state = open_state(redis_url, prefix=prefix, heartbeat=0.2, max_connections=64)
        await state.start()
        server = SignalServer("127.0.0.1", 0, d, state, SECRET, sweep_interval=0.2)
        await server.start()
        servers.append(server)

    async def join(i: int, uid: str, role: int = 2) -> Client:
        c = await Client.connect(servers[i].url)
        clients.append(c)
        c.joined = await c.join(ticket("r", uid, role))
        c.offset = c.joined["serverTime"] - time.time() * 1000   # as the SDKs estimate it
        return c

    yield servers, join, d
    await asyncio.gather(*(c.close() for c in clients))
    for s in servers:
        await s.stop()
        await s.state.stop()


async def settle(pred: Any, wait: float = 30.0) -> None:
    deadline = time.monotonic() + wait
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def newest_count(c: Client, qid: str) -> dict[str, Any] | None:
    got = [e["data"]["data"] for e in c.named("pubMsg") if e["data"]["name"] == "AnswerCount"
           and e["data"]["data"]["qid"] == qid]
    return max(got, key=lambda d: d["version"]) if got else None


async def test_200_answers_at_once_give_the_exact_tally_on_both_nodes(two_nodes):
    servers, join, d = two_nodes
    t = await join(0, "t", 0)
    a = await join(1, "a", 1)
    students = await asyncio.gather(*(join(i % 2, f"s{i}") for i in range(200)))
    await t.ok("pubMsg", {"name": "Question", "id": "Question_q",
                          "data": {"qid": "q", "options": ["A", "B", "C"], "multiple": True,
                                   "right": [0, 2]}})
    await asyncio.gather(*(s.event("pubMsg", name="Question") for s in students))

    def picked(i: int) -> list[int]:
        return [[0], [1], [2], [0, 2]][i % 4]

    acks = await asyncio.gather(*(s.req("pubMsg", {"name": "AnswerCommit", "data": {
        "qid": "q", "answer": picked(i)}}, wait=60) for i, s in enumerate(students)))
    assert all(ack["code"] == 0 for ack in acks), [a for a in acks if a["code"]][:3]
    want = [0, 0, 0]
    for i in range(200):
        for o in picked(i):
            want[o] += 1
    for sup in (t, a):
        await settle(lambda sup=sup: (newest_count(sup, "q") or {}).get("answered") == 200)
        assert newest_count(sup, "q")["counts"] == want
        # coalesced: far fewer counts than answers reached each super user
        assert len([e for e in sup.named("pubMsg") if e["data"]["name"] == "AnswerCount"]) < 200
    await a.ok("pubMsg", {"name": "PublishResult", "data": {"qid": "q"}})
    for c in (t, students[0], students[1]):
        res = await c.event("pubMsg", name="PublishResult")
        assert res["data"]["data"]["counts"] == want and res["data"]["data"]["answered"] == 200
    late = await students[7].req("pubMsg", {"name": "AnswerCommit",
                                            "data": {"qid": "q", "answer": [1]}})
    assert late["code"] == 4105
    assert len(d.answers) == 1 and len(d.answers[0][3]) == 200


async def test_100_presses_across_two_nodes_give_one_winner(two_nodes):
    servers, join, _ = two_nodes
    t = await join(0, "t", 0)
    viewer = await join(1, "v", 3)
    students = await asyncio.gather(*(join(i % 2, f"s{i}") for i in range(100)))
    assert (await viewer.req("pubMsg", {"name": "qiangDaQi", "data": {}}))["code"] == 4108
    assert (await t.ok("pubMsg", {"name": "qiangDaQi", "data": {}}))["round"] == 1
    await asyncio.gather(*(s.event("pubMsg", name="qiangDaQi") for s in students))
    acks = await asyncio.gather(*(s.req("pubMsg", {"name": "QiangDaZhe",
                                                   "id": f"QiangDaZhe_s{i}",
                                                   "data": {"round": 1}}, wait=60)
                                  for i, s in enumerate(students)))
    codes = [ack["code"] for ack in acks]
    assert codes.count(0) == 1 and codes.count(2602) == 99
    winner = f"s{codes.index(0)}"
    assert all(ack["msg"].endswith(f"user {winner} was first") for ack in acks if ack["code"])
    for c in (t, viewer):
        seen = await c.event("pubMsg", name="QiangDaZhe")
        assert seen["data"]["fromID"] == winner
    await asyncio.sleep(0.3)
    assert len([e for e in viewer.named("pubMsg") if e["data"]["name"] == "QiangDaZhe"]) == 1


async def test_timer_remaining_agrees_from_server_time(two_nodes):
    servers, join, _ = two_nodes
    t = await join(0, "t", 0)
    s = await join(1, "s")
    inspector = await join(1, "i", 4)
    assert (await inspector.req("pubMsg", {"name": "timer", "data": {
        "action": "start", "duration_s": 30}}))["code"] == 4108
    await t.ok("pubMsg", {"name": "timer", "data": {"action": "start", "duration_s": 30}})
    views = []
    for c in (t, s):
        st = (await c.event("pubMsg", name="timer"))["data"]["data"]
        # a client's estimate of the server's clock: its own, corrected by the join's offset
        views.append(timer_remaining(st, int(time.time() * 1000 + c.offset)))
    assert abs(views[0] - views[1]) < 2000 and 25_000 < views[0] <= 30_000
    await t.ok("pubMsg", {"name": "timer", "data": {"action": "pause"}})
    paused = await s.wait_for(lambda e: e["ev"] == "pubMsg" and e["data"]["name"] == "timer"
                              and e["data"]["data"]["state"] == "paused")
    assert timer_remaining(paused["data"]["data"], 10**13) == paused["data"]["data"][
        "remaining_ms"]
    # resumed on the other node by an assistant: that node ends it
    a = await join(1, "a", 1)
    await a.ok("pubMsg", {"name": "timer", "data": {"action": "start", "duration_s": 1}})
    for c in (t, s):
        ended = await c.wait_for(lambda e: e["ev"] == "pubMsg" and e["data"]["name"] == "timer"
                                 and e["data"]["data"]["state"] == "ended", wait=15)
        assert ended["data"]["fromID"] == "__server"
    await asyncio.sleep(0.3)
    ends = [e for e in t.named("pubMsg") if e["data"]["name"] == "timer"
            and e["data"]["data"]["state"] == "ended"]
    assert len(ends) == 1
