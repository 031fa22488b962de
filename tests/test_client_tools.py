"""``room.tools`` of the Python SDK against a real signalling node (docs/tools.md, docs/client.md):
a quiz where each student learns whether it was right, the buzzer, the timer on the server's
clock, the random pick and trophies, and the server's refusals as ``ClientError`` codes."""

from __future__ import annotations

import asyncio
import time

import pytest

from client_helpers import Watched, join
from signal_helpers import MemoryDirectory, start_server, stop_server
from tkroom.client import ClientError, State
from tkroom.directory import RoomInfo


@pytest.fixture
async def env():
    d = MemoryDirectory(rooms={"r1": RoomInfo("r1", 1, "Room 1")})
    server = await start_server(d, grace=5.0, sweep_interval=0.05)
    rooms: list[Watched] = []

    async def member(uid: str, role: int = 2) -> Watched:
        w = await join(server.url, "r1", uid, role)
        rooms.append(w)
        return w

    yield d, server, member
    for w in rooms:
        if w.room.state is not State.IDLE:
            await w.room.leaveroom()
    await stop_server(server)


async def until(what, why: str, wait: float = 10.0) -> None:
    deadline = time.monotonic() + wait
    while not what():
        assert time.monotonic() < deadline, why
        await asyncio.sleep(0.01)


async def code_of(call) -> int:
    with pytest.raises(ClientError) as e:
        await call
    return e.value.code


async def test_a_quiz_through_the_sdk(env):
    d, server, member = env
    t = await member("t", 0)
    s1, s2 = await member("s1"), await member("s2")
    await t.room.tools.ask("q1", ["3", "4", "5"], right=[1], title="2+2?")
    ev = await s1.wait("tools-question")
    assert ev["qid"] == "q1" and "right" not in ev["question"]
    assert s1.room.tools.question("q1")["options"] == ["3", "4", "5"]
    await s1.room.tools.answer("q1", [1])
    await s2.room.tools.answer("q1", [0])
    await s2.room.tools.answer("q1", [2])             # replaces [0]
    assert s2.room.tools.my_answer("q1") == [2] and s1.room.tools.my_answer("q9") is None
    await until(lambda: (t.room.tools.counts("q1") or {}).get("counts") == [0, 1, 1],
                "the teacher's live counts")
    assert t.room.tools.counts("q1")["right"] == [1] and s1.room.tools.counts("q1") is None
    assert await code_of(s1.room.tools.ask("q2", ["a", "b"])) == 4108
    assert await code_of(t.room.tools.answer("q1", [1])) == 4108
    await t.room.tools.publish_result("q1")
    r1 = await s1.wait("tools-result")
    r2 = await s2.wait("tools-result")
    assert (r1["correct"], r2["correct"]) == (True, False)
    assert r1["counts"] == [0, 1, 1] and r2["mine"] == [2]
    assert await code_of(s1.room.tools.answer("q1", [0])) == 4105
    # a late joiner knows the card and its result from the join answer
    late = await member("s3")
    assert late.room.tools.result("q1")["answered"] == 2
    await t.room.tools.remove_card("q1")
    await until(lambda: s1.room.tools.question("q1") is None and
                s1.room.tools.result("q1") is None, "the card removed")


async def test_buzzer_timer_dial_and_gifts_through_the_sdk(env):
    d, server, member = env
    t = await member("t", 0)
    s1, s2 = await member("s1"), await member("s2")
    assert await code_of(s1.room.tools.press()) == 103        # not armed: nothing to press
    assert await t.room.tools.arm() == 1
    await until(lambda: s1.room.tools.buzzer is not None and s2.room.tools.buzzer is not None,
                "the buzzer armed")
    results = await asyncio.gather(s1.room.tools.press(), s2.room.tools.press(),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["ClientError", "NoneType"]
    lost = next(r for r in results if isinstance(r, ClientError))
    winner = "s1" if results[0] is None else "s2"
    assert lost.code == 2602 and winner in str(lost)
    await until(lambda: (t.room.tools.winner or {}).get("userid") == winner, "the winner")
    # the timer: every client shows the same remaining time, on the server's clock
    await t.room.tools.timer.start(120)
    await until(lambda: s1.room.tools.timer.state is not None, "the timer")
    left = [w.room.tools.timer.remaining() for w in (t, s1, s2)]
    assert max(left) - min(left) < 2000 and 110_000 < min(left) <= 120_000
    await t.room.tools.timer.pause()
    await until(lambda: (s2.room.tools.timer.state or {}).get("state") == "paused", "paused")
    frozen = s2.room.tools.timer.remaining()
    await asyncio.sleep(0.2)
    assert s2.room.tools.timer.remaining() == frozen
    assert await code_of(s1.room.tools.timer.start(5)) == 4108
    await t.room.tools.timer.reset()
    await until(lambda: (s1.room.tools.timer.state or {}).get("state") == "stopped", "reset")
    assert s1.room.tools.timer.remaining() == 120_000
    picked = await t.room.tools.dial()
    assert picked["userid"] in ("s1", "s2")
    await until(lambda: s1.room.tools.picked == picked, "the pick")
    (ev,) = s2.named("tools-dial") or [await s2.wait("tools-dial")]
    assert ev["userid"] == picked["userid"]
    assert await t.room.tools.send_gift(["s1", "s2"]) == {"s1": 1, "s2": 1}
    assert await t.room.tools.send_gift("s1") == {"s1": 2}
    await until(lambda: s2.room.tools.gifts("s1") == 2, "trophy totals")
    assert s2.room.getUser("s1")["properties"]["giftnumber"] == 2
    assert await code_of(s1.room.tools.send_gift("s2")) == 4108
    assert [g[2] for g in d.gifts] == [["s1", "s2"], ["s1"]]


def test_the_model_keeps_the_newest_count_and_judges_the_answer():
    from tkroom.client.tools import ToolsModel

    m = ToolsModel()
    out: list = []

    def count(version: int, answered: int) -> dict:
        return {"name": "AnswerCount", "id": "AnswerCount_q", "data": {
            "qid": "q", "counts": [answered, 0], "answered": answered, "version": version}}

    m.pub(count(5, 5), out)
    m.pub(count(3, 3), out)                 # from the other node, sent earlier: dropped
    assert m.counts["q"]["answered"] == 5 and [e[0] for e in out] == ["tools-count"]
    m.my_answers["q"] = [1]
    m.pub({"name": "PublishResult", "id": "PublishResult_q", "data": {
        "qid": "q", "counts": [5, 1], "answered": 6, "right": [0]}}, out)
    assert out[-1] == ("tools-result", {"qid": "q", "counts": [5, 1], "answered": 6,
                                        "right": [0], "mine": [1], "correct": False})
    m.set_clock(10_000, 4_000)
    assert m.offset_ms == 6_000
