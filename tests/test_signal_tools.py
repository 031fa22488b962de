"""The classroom tools over real WebSockets (docs/tools.md), on memory and on Redis: a quiz
with live counts and a published result, the buzzer, the timer against server time, the random
pick, trophies, and the refusals (4108, 4105, 2602, 103)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from signal_helpers import (  # noqa: F401
    Client,
    MemoryDirectory,
    no_server_errors,
    start_server,
    stop_server,
    ticket,
)
from tkroom.directory import RoomInfo


@pytest.fixture(params=["memory", "redis"])
async def world(request):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room", allowsidelineuser=True)})
    server = await start_server(d, state_url=url, grace=5.0, sweep_interval=0.05)
    clients: list[Client] = []

    async def member(uid: str, role: int = 2) -> Client:
        c = await Client.connect(server.url)
        clients.append(c)
        c.joined = await c.join(ticket("r", uid, role))
        return c

    yield server, member, d
    for c in clients:
        await c.close()
    await stop_server(server)


def card(qid: str, **data: Any) -> dict[str, Any]:
    return {"name": "Question", "id": f"Question_{qid}", "toID": "__all",
            "data": {"qid": qid, "options": ["A", "B", "C", "D"], **data}}


def answer(qid: str, *picked: int) -> dict[str, Any]:
    return {"name": "AnswerCommit", "id": "AnswerCommit", "toID": "__none",
            "data": {"qid": qid, "answer": list(picked)}}


def counts_of(c: Client, qid: str) -> dict[str, Any] | None:
    """The newest live count a super user holds (by version, as the SDKs keep it)."""
    got = [e["data"]["data"] for e in c.named("pubMsg") if e["data"]["name"] == "AnswerCount"
           and e["data"]["data"]["qid"] == qid]
    return max(got, key=lambda d: d["version"]) if got else None


async def settle(pred: Any, wait: float = 10.0) -> None:
    deadline = time.monotonic() + wait
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_a_quiz_from_question_to_result(world):
    server, member, d = world
    t = await member("t", 0)
    a = await member("a", 1)
    students = [await member(f"s{i}") for i in range(5)]
    v = await member("v", 3)
    insp = await member("i", 4)
    ask = await t.ok("pubMsg", card("q1", right=[2], title="2+2?"))
    assert ask["qid"] == "q1"
    for c in (*students, v, a):
        got = await c.event("pubMsg", name="Question")
        assert "right" not in got["data"]["data"] and got["data"]["data"]["title"] == "2+2?"
    for i, s in enumerate(students):
        assert (await s.ok("pubMsg", answer("q1", i % 2 * 2))) == {"result": 0}
    # s0 changes its mind while the card is open: the change replaces the first answer
    await students[0].ok("pubMsg", answer("q1", 3))
    for sup in (t, a, insp):        # inspectors see everything (and never act)
        await settle(lambda sup=sup: (counts_of(sup, "q1") or {}).get("answered") == 5 and
                     counts_of(sup, "q1")["counts"] == [2, 0, 2, 1])
        assert counts_of(sup, "q1")["right"] == [2]
    # counts reach only the super users; answers reach nobody
    for c in (*students, v):
        assert not [e for e in c.named("pubMsg") if e["data"]["name"] in
                    ("AnswerCount", "AnswerCommit")]
    await t.ok("pubMsg", {"name": "PublishResult", "id": "PublishResult_q1",
                          "data": {"qid": "q1"}})
    for c in (*students, v):
        res = await c.event("pubMsg", name="PublishResult")
        assert res["data"]["data"] == {"qid": "q1", "counts": [2, 0, 2, 1], "answered": 5,
                                       "right": [2]}
    late = await students[1].req("pubMsg", answer("q1", 1))
    assert late["code"] == 4105 and "q1" in late["msg"]
    again = await t.req("pubMsg", {"name": "PublishResult", "data": {"qid": "q1"}})
    assert again["code"] == 4105
    (serial, qid, question, answers, _), = d.answers
    assert (serial, qid, question["right"]) == ("r", "q1", [2])
    assert answers == {"s0": [3], "s1": [2], "s2": [0], "s3": [2], "s4": [0]}
    # a late joiner sees the card and its result; removing the card takes the result along
    late_joiner = await member("s9")
    saved = {m["id"]: m for m in late_joiner.joined["msglist"]}
    assert "right" not in saved["Question_q1"]["data"]
    assert saved["PublishResult_q1"]["data"]["counts"] == [2, 0, 2, 1]
    await t.ok("delMsg", {"id": "Question_q1"})
    gone = await late_joiner.event("delMsg", id="PublishResult_q1")
    assert gone["data"]["fromID"] == "__server"
    reuse = await t.req("pubMsg", card("q1"))
    assert reuse["code"] == 103


async def test_refusals(world):
    server, member, _ = world
    t = await member("t", 0)
    s = await member("s")
    v = await member("v", 3)
    i = await member("i", 4)
    for who in (s, v, i):
        for msg in (card("x"), {"name": "qiangDaQi", "data": {}},
                    {"name": "timer", "data": {"action": "start", "duration_s": 3}},
                    {"name": "dial", "data": {}},
                    {"name": "sendgift", "data": {"receivers": ["s"]}}):
            assert (await who.req("pubMsg", msg))["code"] == 4108, (who, msg)
    for who in (t, v, i):
        assert (await who.req("pubMsg", answer("x", 0)))["code"] == 4108
    assert (await s.req("pubMsg", answer("x", 0)))["code"] == 4105      # no such card
    await t.ok("pubMsg", card("x"))
    assert (await s.req("pubMsg", answer("x", 4)))["code"] == 103       # no option 4
    assert (await s.req("pubMsg", answer("x", 0, 1)))["code"] == 103    # single choice
    # plain messages may not pose as a tool, nor may a student remove one
    for mid in ("QiangDaZhe_s", "Question_y", "timer"):
        ack = await s.req("pubMsg", {"name": "x", "id": mid, "toID": "__none", "save": True,
                                     "associatedUserID": "s"})
        assert ack["code"] == 103, ack
    assert (await s.req("delMsg", {"id": "Question_x"}))["code"] == 4108
    assert (await s.req("setProperty", {"id": "s", "properties": {"giftnumber": 99}}))[
        "code"] == 4108
    assert (await t.req("pubMsg", {"name": "sendgift",
                                   "data": {"receivers": ["t"]}}))["code"] == 4105
    assert (await t.req("pubMsg", {"name": "dial", "data": {"x": 1}}))["code"] == 0
    # beyond 10 answers a second a student is refused (103) and nothing changes
    codes = [(await s.req("pubMsg", answer("x", 1)))["code"] for _ in range(15)]
    assert codes.count(103) >= 1 and codes[0] == 0
    assert "Question_x" in {m["id"] for m in await server.state.messages("r")}


async def test_the_buzzer_has_one_winner_and_a_new_round_clears_it(world):
    server, member, _ = world
    t = await member("t", 0)
    students = [await member(f"s{i}") for i in range(8)]
    assert (await students[0].req("pubMsg", {"name": "QiangDaZhe", "id": "QiangDaZhe_s0",
                                             "data": {"round": 1}}))["code"] == 4105
    armed = await t.ok("pubMsg", {"name": "qiangDaQi", "id": "qiangDaQi", "data": {}})
    assert armed["round"] == 1
    acks = await asyncio.gather(*(s.req("pubMsg", {"name": "QiangDaZhe",
                                                   "id": f"QiangDaZhe_s{i}",
                                                   "associatedMsgID": "qiangDaQi",
                                                   "data": {"round": 1}})
                                  for i, s in enumerate(students)))
    won = [i for i, a in enumerate(acks) if a["code"] == 0]
    assert len(won) == 1
    winner = f"s{won[0]}"
    for a in acks:
        if a["code"]:
            assert a["code"] == 2602 and a["msg"].endswith(f"user {winner} was first")
    seen = await t.event("pubMsg", name="QiangDaZhe")
    assert seen["data"]["id"] == f"QiangDaZhe_{winner}" and seen["data"]["data"]["round"] == 1
    # a new round removes the last winner (announced) and takes presses for round 2 only
    assert (await t.ok("pubMsg", {"name": "qiangDaQi", "data": {}}))["round"] == 2
    await students[0].event("delMsg", id=f"QiangDaZhe_{winner}")
    old = await students[1].req("pubMsg", {"name": "QiangDaZhe", "id": "QiangDaZhe_s1",
                                           "data": {"round": 1}})
    assert old["code"] == 4105
    await students[1].ok("pubMsg", {"name": "QiangDaZhe", "id": "QiangDaZhe_s1",
                                    "data": {"round": 2}})
    await t.ok("delMsg", {"id": "qiangDaQi"})
    await t.event("delMsg", id="QiangDaZhe_s1")
    assert not {m["id"] for m in await server.state.messages("r")} & {"qiangDaQi",
                                                                       "QiangDaZhe_s1"}


async def test_timer_runs_on_server_time_and_ends(world):
    server, member, _ = world
    t = await member("t", 0)
    s = await member("s")
    joined = await (await Client.connect(server.url)).join(ticket("r", "late"))
    assert abs(joined["serverTime"] - time.time() * 1000) < 5000
    started = await t.ok("pubMsg", {"name": "timer", "id": "timer",
                                    "data": {"action": "start", "duration_s": 60}})
    st = started["timer"]
    seen = (await s.event("pubMsg", name="timer"))["data"]["data"]
    assert seen == st and st["state"] == "running" and st["remaining_ms"] == 60_000
    await t.ok("pubMsg", {"name": "timer", "data": {"action": "pause"}})
    paused = (await s.wait_for(lambda e: e["ev"] == "pubMsg" and e["data"]["name"] == "timer"
                               and e["data"]["data"]["state"] == "paused"))["data"]["data"]
    # what a screen shows: remaining at the server's time of the pause
    assert 50_000 < paused["remaining_ms"] <= 60_000
    assert (await t.req("pubMsg", {"name": "timer", "data": {"action": "pause"}}))["code"] \
        == 4105
    await t.ok("pubMsg", {"name": "timer", "data": {"action": "start", "duration_s": 1}})
    ended = await s.wait_for(lambda e: e["ev"] == "pubMsg" and e["data"]["name"] == "timer"
                             and e["data"]["data"]["state"] == "ended", wait=15)
    assert ended["data"]["fromID"] == "__server" and ended["data"]["data"]["remaining_ms"] == 0
    saved = await server.state.get_message("r", "timer")
    assert saved["data"]["state"] == "ended"


async def test_dial_picks_present_students_and_trophies_count(world):
    server, member, d = world
    t = await member("t", 0)
    await member("a", 1)
    s1, s2 = await member("s1"), await member("s2")
    picks = {(await t.ok("pubMsg", {"name": "dial", "data": {}}))["userid"] for _ in range(30)}
    assert picks == {"s1", "s2"}            # 30 draws of 2: missing one is 2**-29
    got = await s1.event("pubMsg", name="dial")
    assert got["data"]["data"]["userid"] in ("s1", "s2")
    await t.ok("pubMsg", {"name": "sendgift", "data": {"receivers": ["s1", "s2"]}})
    out = await t.ok("pubMsg", {"name": "sendgift", "data": {"receivers": ["s1"]}})
    assert out["totals"] == {"s1": 2}
    ev = await s2.wait_for(lambda e: e["ev"] == "pubMsg" and e["data"]["name"] == "sendgift"
                           and e["data"]["data"]["totals"] == {"s1": 2})
    assert ev["data"]["data"]["receivers"] == ["s1"]
    assert [(g[1], g[2]) for g in d.gifts] == [("t", ["s1", "s2"]), ("t", ["s1"])]
    users = (await s2.ok("getUser", {"ids": ["s1"]}))["users"]
    assert users[0]["properties"]["giftnumber"] == 2
    # the count survives a rejoin, and is in the join answer of the others
    await s1.ok("leaveRoom")
    again = await member("s1")
    assert again and (await s2.ok("getUser", {"ids": ["s1"]}))["users"][0]["properties"][
        "giftnumber"] == 2


async def test_an_open_card_is_stored_when_the_room_empties(world):
    server, member, d = world
    t = await member("t", 0)
    s = await member("s")
    await t.ok("pubMsg", card("open"))
    await s.ok("pubMsg", answer("open", 1))
    await s.ok("leaveRoom")
    await t.ok("leaveRoom")
    await settle(lambda: len(d.answers) == 1)
    assert d.answers[0][1:4:2] == ("open", {"s": [1]})
    # the room starts afresh: the card id may be used again
    t2 = await member("t", 0)
    await t2.ok("pubMsg", card("open"))


async def test_live_counts_are_coalesced_and_the_last_is_always_sent(world):
    server, member, _ = world
    t = await member("t", 0)
    students = [await member(f"s{i}") for i in range(30)]
    await t.ok("pubMsg", card("c"))
    started = time.monotonic()
    for _ in range(3):                       # 90 answers (changes included) as fast as they go
        await asyncio.gather(*(s.ok("pubMsg", answer("c", i % 4))
                               for i, s in enumerate(students)))
    await settle(lambda: (counts_of(t, "c") or {}).get("version") == 90)
    elapsed_ms = (time.monotonic() - started) * 1000
    sent = [e for e in t.named("pubMsg") if e["data"]["name"] == "AnswerCount"]
    # one node: at most one count per 200 ms (plus the first, sent at once)
    assert len(sent) <= elapsed_ms / 200 + 2, (len(sent), elapsed_ms)
    assert counts_of(t, "c")["counts"] == [8, 8, 7, 7] and counts_of(t, "c")["answered"] == 30
