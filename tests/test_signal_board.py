"""The board over real WebSockets (docs/board.md): who may draw, the limits, a page clear, the
compact board a late joiner receives, a resume after missed strokes, and two nodes on Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from signal_helpers import (  # noqa: F401
    SECRET,
    Client,
    MemoryDirectory,
    no_server_errors,
    start_server,
    stop_server,
    ticket,
)
from tkroom.directory import RoomInfo
from tkroom.rooms.board import BoardLimits, expand
from tkroom.signal.server import SignalServer
from tkroom.state import open_state

LIMITS = BoardLimits(max_shapes=4, max_shape_bytes=1024, rate=5)     # bursts of 10


@pytest.fixture(params=["memory", "redis"])
async def world(request):
    """A server whose clock stands still unless the test moves it (the drawing rate)."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    now = [float(int(time.time()))]
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room", allowsidelineuser=True)})
    server = await start_server(d, state_url=url, grace=5.0, sweep_interval=0.05, board=LIMITS,
                                window=256, clock=lambda: now[0])
    clients: list[Client] = []

    async def member(uid: str, role: int = 2) -> Client:
        c = await Client.connect(server.url)
        clients.append(c)
        await c.join(ticket("r", uid, role, now=now[0]))
        return c

    yield server, member, now
    for c in clients:
        await c.close()
    await stop_server(server)


def shape(shape_id: str, page: str = "0_1", x: float = 0.5, **extra: Any) -> dict[str, Any]:
    return {"name": "SharpsChange", "id": f"{shape_id}###_SharpsChange_{page}", "save": True,
            "toID": "__all", **extra,
            "data": {"eventType": "shapeSaveEvent", "shapeId": shape_id, "className": "Line",
                     "data": {"x1": 0.1, "y1": 0.1, "x2": x, "y2": 0.9, "color": "#e53935",
                              "width": 0.004}}}


def clear(page: str) -> dict[str, Any]:
    return {"name": "SharpsChange", "id": f"clear###_SharpsChange_{page}", "toID": "__all",
            "data": {"eventType": "clearEvent"}}


def board_of(answer: dict[str, Any]) -> dict[str, list[str]]:
    """The join answer's board as page -> shape ids (in seq order)."""
    return {page: [e[0] for e in entries] for page, entries in answer["board"].items()}


async def test_a_student_draws_only_with_candraw(world):
    server, member, now = world
    t = await member("t", 0)
    s = await member("s")
    v = await member("v", 3)
    await t.ok("pubMsg", shape("teach"))
    before = await server.state.messages("r")
    s_seen = len(t.named("pubMsg"))
    for who, why in ((s, "candraw"), (v, "live viewer")):
        ack = await who.req("pubMsg", shape("mine"))
        assert ack["code"] == 4108 and why in ack["msg"], ack
        assert (await who.req("delMsg", {"name": "SharpsChange",
                                         "id": "teach###_SharpsChange_0_1"}))["code"] == 4108
    # nothing changed, nobody was told
    assert await server.state.messages("r") == before
    assert len(t.named("pubMsg")) == s_seen
    # the teacher gives candraw: the student draws for everyone, saved on the page
    await t.ok("setProperty", {"id": "s", "properties": {"candraw": True}})
    await s.event("setProperty", id="s", properties={"candraw": True})
    ack = await s.ok("pubMsg", shape("mine", toID="__allExceptSender"))
    assert ack["seq"] > 0
    got = await t.event("pubMsg", id="mine###_SharpsChange_0_1")
    assert got["data"]["fromID"] == "s" and got["data"]["associatedMsgID"] == "Page_0_1"
    await v.event("pubMsg", id="mine###_SharpsChange_0_1")
    # a student replaces and erases only its own shapes
    assert (await s.req("pubMsg", shape("teach", x=0.2)))["code"] == 4108
    assert (await s.req("delMsg", {"name": "SharpsChange",
                                   "id": "teach###_SharpsChange_0_1"}))["code"] == 4108
    await s.ok("pubMsg", shape("mine", x=0.3))
    await s.ok("pubMsg", shape("gone"))
    await s.ok("delMsg", {"name": "SharpsChange", "id": "gone###_SharpsChange_0_1"})
    await t.event("delMsg", id="gone###_SharpsChange_0_1")
    # a student never shows pages nor clears
    for msg in (clear("0_1"), {"name": "ShowPage", "id": "DocumentFilePage_ShowPage",
                               "toID": "__all", "save": True,
                               "data": {"fileid": 0, "currpage": 1, "pagenum": 1,
                                        "filename": "", "filetype": ""}}):
        assert (await s.req("pubMsg", msg))["code"] == 4108
    # taken away again: refused, and the student's shapes stay
    await t.ok("setProperty", {"id": "s", "properties": {"candraw": False}})
    await s.event("setProperty", id="s", properties={"candraw": False})
    assert (await s.req("pubMsg", shape("more")))["code"] == 4108
    ids = [m["id"] for m in await server.state.messages("r")]
    assert ids == ["teach###_SharpsChange_0_1", "mine###_SharpsChange_0_1"]


async def test_a_late_joiner_receives_the_compacted_board(world):
    server, member, now = world
    t = await member("t", 0)
    s = await member("s")
    await t.ok("setProperty", {"id": "s", "properties": {"candraw": True}})
    show = {"name": "ShowPage", "id": "DocumentFilePage_ShowPage", "toID": "__all",
            "save": True, "data": {"fileid": 12, "currpage": 3, "pagenum": 9,
                                   "filename": "a.pdf", "filetype": "pdf"}}
    await t.ok("pubMsg", {"name": "ClassBegin", "toID": "__all", "save": True})
    await t.ok("pubMsg", show)
    await t.ok("pubMsg", shape("a", "12_3"))
    await s.ok("pubMsg", shape("b", "12_3"))
    await t.ok("pubMsg", shape("c", "0_1"))
    await t.ok("pubMsg", shape("a", "12_3", x=0.7))              # changed: now after b
    # a stroke being drawn and the laser pointer go live, never saved
    await s.ok("pubMsg", {"name": "SharpsChange", "id": "d###_SharpsDrawing_12_3",
                          "toID": "__allExceptSender",
                          "data": {"eventType": "drawingEvent", "seq": 0,
                                   "data": {"points": [0.1, 0.1, 0.2, 0.2]}}})
    await t.event("pubMsg", id="d###_SharpsDrawing_12_3")
    await t.ok("pubMsg", {"name": "SharpsChange", "id": "laser###_SharpsChange_12_3",
                          "toID": "__allExceptSender",
                          "data": {"eventType": "laserMarkEvent",
                                   "data": {"x": 0.5, "y": 0.5, "visible": True}}})
    await s.event("pubMsg", id="laser###_SharpsChange_12_3")
    c = await Client.connect(server.url)
    joined = await c.join(ticket("r", "late", 1, now=now[0]))
    await c.close()
    assert [m["id"] for m in joined["msglist"]] == ["ClassBegin", "DocumentFilePage_ShowPage"]
    assert joined["msglist"][1]["data"]["currpage"] == 3
    assert board_of(joined) == {"12_3": ["b", "a"], "0_1": ["c"]}
    a = joined["board"]["12_3"][1]
    assert a[1:4] == ["t", a[2], "Line"] and a[4]["x2"] == 0.7
    # rebuilt, they are the saved messages (without ts, which the compact form leaves out)
    saved = [m for m in await server.state.messages("r") if m["name"] == "SharpsChange"]
    assert expand(joined["board"]) == [{**{k: v for k, v in m.items() if k != "ts"},
                                        "toID": "__all"} for m in saved]


async def test_clear_removes_a_page_for_everyone(world):
    server, member, now = world
    t = await member("t", 0)
    s = await member("s")
    for i in range(3):
        await t.ok("pubMsg", shape(f"p{i}", "5_2"))
    await t.ok("pubMsg", shape("keep", "5_3"))
    mark = len(s.named("delMsg"))
    await t.ok("pubMsg", clear("5_2"))
    got = await s.event("pubMsg", id="clear###_SharpsChange_5_2")
    assert got["data"]["data"]["eventType"] == "clearEvent"
    assert len(s.named("delMsg")) == mark                 # one clearEvent, no delMsg per shape
    assert [m["id"] for m in await server.state.messages("r")] == ["keep###_SharpsChange_5_3"]
    c = await Client.connect(server.url)
    joined = await c.join(ticket("r", "late", 1, now=now[0]))
    assert board_of(joined) == {"5_3": ["keep"]} and joined["msglist"] == []
    await c.close()
    # the page is empty: its limit counts from zero again
    for i in range(LIMITS.max_shapes):
        await t.ok("pubMsg", shape(f"n{i}", "5_2"))


async def test_limits_refuse_with_codes_and_change_nothing(world):
    server, member, now = world
    t = await member("t", 0)
    for i in range(LIMITS.max_shapes):
        await t.ok("pubMsg", shape(f"s{i}"))
    before = await server.state.messages("r")
    ack = await t.req("pubMsg", shape("one-more"))
    assert ack["code"] == 103 and "4 shapes" in ack["msg"], ack
    big = shape("big", "0_2")
    big["data"]["data"]["extra"] = "x" * LIMITS.max_shape_bytes
    ack = await t.req("pubMsg", big)
    assert ack["code"] == 103 and "1024" in ack["msg"], ack
    assert await server.state.messages("r") == before
    # changing a shape of a full page is no new shape
    await t.ok("pubMsg", shape("s0", x=0.9))
    assert not [e for e in t.named("pubMsg") if e["data"]["id"].startswith(("one-more", "big"))]


async def test_the_drawing_rate_refuses_not_drops(world):
    server, member, now = world
    t = await member("t", 0)
    w = await member("w", 2)
    mark = len(w.named("pubMsg"))
    codes = [(await t.req("pubMsg", shape(f"r{i}", f"1_{i + 1}")))["code"] for i in range(14)]
    # the clock stands still: a burst of twice the rate, then refusals with 2602
    assert codes == [0] * 10 + [2602] * 4
    await w.event("pubMsg", id="r9###_SharpsChange_1_10")
    assert len(w.named("pubMsg")) - mark == 10       # every accepted one arrived
    assert len(await server.state.messages("r")) == 10
    assert (await t.req("delMsg", {"name": "SharpsChange",
                                   "id": "r0###_SharpsChange_1_1"}))["code"] == 2602
    # plain messages and chat are not board messages: not limited by it
    await t.ok("pubMsg", {"name": "note", "toID": "__all"})
    # a second later, rate messages more
    now[0] += 1
    codes = [(await t.req("pubMsg", shape(f"q{i}", f"2_{i + 1}")))["code"] for i in range(6)]
    assert codes == [0] * 5 + [2602]


async def test_a_resume_after_missed_strokes_receives_them(world):
    server, member, now = world
    t = await member("t", 0)
    s = await member("s")
    await t.ok("pubMsg", shape("first"))
    await s.event("pubMsg", id="first###_SharpsChange_0_1")
    last = s.last_s
    s.ws.transport.abort()
    await asyncio.wait_for(s.closed.wait(), 5)
    deadline = time.monotonic() + 10
    while "s" in {c.userid for c in server.rooms["r"].conns.values()}:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    for i in range(3):
        await t.ok("pubMsg", shape(f"m{i}"))
    await t.ok("delMsg", {"name": "SharpsChange", "id": "m1###_SharpsChange_0_1"})
    await t.ok("pubMsg", clear("0_2"))
    r = await Client.connect(server.url)
    r.last_s = last
    await r.ok("resume", {"session": s.session["id"], "token": s.session["token"],
                          "last": last})
    await r.event("pubMsg", id="clear###_SharpsChange_0_2")
    assert [e["data"]["id"] for e in r.named("pubMsg")] == [
        "m0###_SharpsChange_0_1", "m1###_SharpsChange_0_1", "m2###_SharpsChange_0_1",
        "clear###_SharpsChange_0_2"]
    assert [e["data"]["id"] for e in r.named("delMsg")] == ["m1###_SharpsChange_0_1"]
    await r.close()


@pytest.mark.redis
async def test_strokes_drawn_on_one_node_reach_a_late_joiner_on_another(redis_url):
    prefix = f"b{secrets.token_hex(4)}"
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room")})
    states, servers, clients = [], [], []
    try:
        for _ in range(2):
            st = open_state(redis_url, prefix=prefix, heartbeat=0.1)
            await st.start()
            states.append(st)
            srv = SignalServer("127.0.0.1", 0, d, st, SECRET, board=LIMITS)
            await srv.start()
            servers.append(srv)
        a, b = servers

        async def member(node: SignalServer, uid: str, role: int = 2) -> tuple[Client, dict]:
            c = await Client.connect(node.url)
            clients.append(c)
            return c, await c.join(ticket("r", uid, role))

        t, _ = await member(a, "t", 0)
        s, _ = await member(b, "s")
        await t.ok("setProperty", {"id": "s", "properties": {"candraw": True}})
        await s.event("setProperty", id="s", properties={"candraw": True})
        await t.ok("pubMsg", shape("ta", "3_1"))
        await s.ok("pubMsg", shape("sb", "3_1"))            # drawn on node B, seen on A
        await t.event("pubMsg", id="sb###_SharpsChange_3_1")
        await t.ok("pubMsg", shape("tc", "3_2"))
        await s.event("pubMsg", id="tc###_SharpsChange_3_2")
        await t.ok("pubMsg", clear("3_2"))
        await s.event("pubMsg", id="clear###_SharpsChange_3_2")
        _, joined = await member(b, "late", 1)
        assert board_of(joined) == {"3_1": ["ta", "sb"]}
        assert [e[1] for e in joined["board"]["3_1"]] == ["t", "s"]
        # node A goes away: its teacher resumes on B and draws on; nothing was lost
        w, _ = await member(a, "w")
        last = w.last_s
        await a.stop()
        await asyncio.wait_for(w.closed.wait(), 10)
        await s.ok("pubMsg", shape("sd", "3_1"))            # w misses it while away
        resumed = []
        for old in (t, w):
            c = await Client.connect(b.url)
            clients.append(c)
            c.last_s = old.last_s
            await c.ok("resume", {"session": old.session["id"], "token": old.session["token"],
                                  "last": old.last_s})
            resumed.append(c)
        t2, w2 = resumed
        await w2.event("pubMsg", id="sd###_SharpsChange_3_1")
        assert w.last_s == last
        await t2.ok("pubMsg", shape("te", "3_1"))
        await s.event("pubMsg", id="te###_SharpsChange_3_1")
        _, joined = await member(b, "later", 1)
        assert board_of(joined) == {"3_1": ["ta", "sb", "sd", "te"]}
    finally:
        for c in clients:
            await c.close()
        for srv in servers:
            await srv.stop()
        for st in states:
            await st.stop()
