"""Class records (issue 13): attendance as the signalling plane saw it, read back through the
Web API (``getlogininfo``, ``getonlineuser``), the signed login/logout callback, and the answer
cards and trophies the classroom tools store (``getanswerlist``, ``getgiftinfo``).

Everything over real sockets: WebSocket clients, the node's HTTP API, an HTTP receiver on
127.0.0.1, and for the cluster two nodes on one Redis and one PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_node import PASSWORDS, running_node
from signal_helpers import (  # noqa: F401
    Client,
    MemoryDirectory,
    no_server_errors,
    start_server,
    stop_server,
    ticket,
)
from tkroom import tickets
from tkroom.config import Settings
from tkroom.directory import RoomInfo
from tkroom.node import Node
from tkroom.planes import build_node
from tkroom.signal import server as signal_server
from tkroom.state import open_state
from tkroom.store.companies import create_company
from webapi_nodes import Api, Receiver, free_port

CLIENTS: list[Client] = []


def now_ms() -> int:
    return int(time.time() * 1000)


async def poll(pred: Any, wait: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + wait
    while True:
        v = await pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def webapi(node: Node, key: str, method: str, **params: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        r = await http.post(f"/WebAPI/{method}", data={"key": key, **params})
    assert r.status_code == 200, r.text
    return r.json()


def tk(node: Node, serial: str, userid: str, role: int = 2, nickname: str = "") -> str:
    ident = tickets.Identity(serial, userid, role, nickname or userid.upper())
    return tickets.issue(node.secret, ident, time.time())


async def joined(url: str, tkt: str, **extra: Any) -> tuple[Client, int, int]:
    """A client that joined; the epoch ms just before the request and just after the ack."""
    c = await Client.connect(url)
    CLIENTS.append(c)
    before = now_ms()
    await c.join(tkt, **extra)
    return c, before, now_ms()


async def timed(coro: Any) -> tuple[int, int]:
    before = now_ms()
    await coro
    return before, now_ms()


def within(ms: int, span: tuple[int, int]) -> bool:
    return span[0] <= ms <= span[1]


def signed_by(key: str, headers: dict[str, str], raw: bytes) -> bool:
    """The receiver's check, as docs/webapi.md tells a school to write it."""
    ts = headers["x-tkroom-timestamp"]
    expected = "sha256=" + hmac.new(key.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-tkroom-signature"]) and \
        abs(time.time() - int(ts)) < 300


async def close_clients() -> None:
    """Close every client (before its node stops: a node waits a while for open sockets)."""
    for c in CLIENTS:
        with contextlib.suppress(Exception):
            await c.close()
    CLIENTS.clear()


@pytest.fixture(autouse=True)
async def clients_closed():
    yield
    await close_clients()


async def test_attendance_matches_what_the_users_did_and_the_callback_is_signed(tmp_path):
    grace = 4.0
    rx = Receiver(failures=2)   # the first two callbacks fail: they are retried
    try:
        async with running_node(tmp_path, grace=grace, callback_delays_s=(0.3, 0.3, 0.3)) as env:
            node, serial, url = env.node, env.serial, env.signal.url
            await env.webapi("companyattribute", roomloginouturl=rx.url)

            # join, leave, rejoin, evicted
            ann, *ann_in = await joined(url, tk(node, serial, "ann", 2, "Ann"), clientType=3)
            tea, *tea_in = await joined(url, tk(node, serial, "tea", 0, "Teacher"), clientType="web")
            ann_out = await timed(ann.ok("leaveRoom"))
            ann2, *ann2_in = await joined(url, tk(node, serial, "ann", 2, "Ann"), clientType=3)
            ann2_out = await timed(tea.ok("evictParticipant", {"id": "ann"}))
            # a dropped socket never resumed: out when it dropped, recorded after the grace
            bob, *bob_in = await joined(url, tk(node, serial, "bob", 2, "Bob"))
            bob_drop = await timed(bob.close())
            during = await webapi(node, env.key, "getonlineuser", serial=serial)
            assert "bob" in {u["buddyid"] for u in during["onlineuser"]}, "in his grace period"
            # a dropped socket resumed within the grace period: one stay, still in
            cat, *cat_in = await joined(url, tk(node, serial, "cat", 2, "Cat"))
            cat.ws.transport.abort()
            await cat.closed.wait()
            back = await Client.connect(url)
            CLIENTS.append(back)
            await back.ok("resume", {"session": cat.session["id"], "token": cat.session["token"],
                                     "last": cat.last_s})
            # the teacher reloads: a same-id join replaces the first stay
            tea2, *tea2_in = await joined(url, tk(node, serial, "tea", 0, "Teacher"), clientType="web")

            async def info() -> list[dict[str, Any]] | None:
                r = await webapi(node, env.key, "getlogininfo", serial=serial)
                if r["result"] != 0:
                    return None
                rows = r["logininfo"]
                closed = [x for x in rows if not x["online"]]
                return rows if len(rows) == 6 and len(closed) == 4 else None

            rows = await poll(info, what="six stays, four of them over")
            bob_row = await poll(lambda: _stay(node, env.key, serial, "bob"), what="bob's exit")
            assert bob_row["outtime_ms"] - bob_drop[1] < 1000, \
                "the exit is when the socket dropped, not when the grace period (4 s) ended"
            rows = (await webapi(node, env.key, "getlogininfo", serial=serial))["logininfo"]
            by = {}
            for r in rows:
                by.setdefault(r["userid"], []).append(r)
                assert r["entertime"] == r["entertime_ms"] // 1000
                assert r["outtime"] == r["outtime_ms"] // 1000
                assert r["ipaddress"] == "127.0.0.1"
            assert sorted(by) == ["ann", "bob", "cat", "tea"]
            a1, a2 = by["ann"]
            assert (a1["userrole"], a1["nickname"], a1["clienttype"], a1["devicetype"]) == (2, "Ann", "3", "3")
            assert within(a1["entertime_ms"], tuple(ann_in)) and within(a1["outtime_ms"], ann_out)
            assert a1["duration"] == (a1["outtime_ms"] - a1["entertime_ms"]) // 1000
            assert within(a2["entertime_ms"], tuple(ann2_in)) and within(a2["outtime_ms"], ann2_out)
            [bob_stay] = by["bob"]
            assert within(bob_stay["entertime_ms"], tuple(bob_in))
            assert bob_drop[0] <= bob_stay["outtime_ms"] <= bob_drop[1] + 1000
            [c] = by["cat"]
            assert within(c["entertime_ms"], tuple(cat_in)) and c["online"] == 1 and c["outtime"] == 0
            t1, t2 = by["tea"]
            assert t1["clienttype"] == "web" and t1["userrole"] == 0
            assert within(t1["outtime_ms"], tuple(tea2_in)) and within(t2["entertime_ms"], tuple(tea2_in))
            assert t2["online"] == 1
            # one user, and a window
            only = await webapi(node, env.key, "getlogininfo", serial=serial, userid="ann")
            assert [r["userid"] for r in only["logininfo"]] == ["ann", "ann"]
            late = await webapi(node, env.key, "getlogininfo", serial=serial,
                                starttime=str(tea2_in[1] // 1000 + 1))
            assert {r["userid"] for r in late["logininfo"]} == {"cat", "tea"}, \
                "stays over before the window are left out"
            assert (await webapi(node, env.key, "getlogininfo", serial=serial,
                                 endtime=str(ann_in[0] // 1000 - 1)))["result"] == 4105

            # who is in now
            online = await webapi(node, env.key, "getonlineuser", serial=serial)
            assert online["result"] == 0
            assert sorted((u["buddyid"], u["userrole"], u["username"]) for u in online["onlineuser"]) \
                == [("cat", 2, "Cat"), ("tea", 0, "Teacher")]
            assert all(u["serial"] == serial and u["isrobot"] == 0 for u in online["onlineuser"])

            # the callback: one login and one logout per stay, each signed, two retried
            async def all_delivered() -> bool:
                ids = {body["identify"] for body in rx.bodies}
                return len(ids) == 10 and len(rx.bodies) == 12
            await poll(all_delivered, what="ten callbacks, two of them retried")
            assert all(signed_by(env.key, h, raw) for h, raw in rx.raw)
            assert not any(signed_by("x" * 16, h, raw) for h, raw in rx.raw)
            per = {body["identify"]: body for body in rx.bodies}
            kinds = sorted((body["userid"], body["type"]) for body in per.values())
            assert kinds == sorted([("ann", "login"), ("ann", "logout")] * 2 + [
                ("bob", "login"), ("bob", "logout"), ("cat", "login"),
                ("tea", "login"), ("tea", "logout"), ("tea", "login")])
            logout = next(body for body in per.values()
                          if body["userid"] == "bob" and body["type"] == "logout")
            assert int(logout["time_ms"]) == bob_stay["outtime_ms"] and logout["serial"] == serial
            assert int(logout["entertime"]) == bob_stay["entertime"] and logout["userrole"] == "2"
            assert logout["username"] == "Bob" and int(logout["duration"]) == bob_stay["duration"]
            assert logout["ipaddress"] == "127.0.0.1", "an exit carries what the entry recorded"
            assert next(body["clienttype"] for body in per.values()
                        if body["userid"] == "ann" and body["type"] == "logout") == "3"
            assert logout["session"] == next(body["session"] for body in per.values()
                                             if body["userid"] == "bob" and body["type"] == "login")
            retried = [i for i in per if sum(1 for body in rx.bodies if body["identify"] == i) == 2]
            assert len(retried) == 2, "a failed delivery is sent again, the same body"

            # the class-state callbacks are signed the same way
            await env.webapi("companyattribute", roomstartcallbackurl=rx.url)
            await node.directory.class_state(serial, 0, time.time())
            await poll(lambda: _async(len(rx.raw) == 13), what="the class-state callback")
            h, raw = rx.raw[-1]
            assert b"classstate=0" in raw and signed_by(env.key, h, raw)
            await close_clients()
    finally:
        rx.close()


async def _async(v: Any) -> Any:
    return v


async def _stay(node: Node, key: str, serial: str, userid: str) -> dict[str, Any] | None:
    r = await webapi(node, key, "getlogininfo", serial=serial, userid=userid)
    rows = r.get("logininfo") or []
    return rows[-1] if rows and not rows[-1]["online"] else None


async def test_record_codes_and_room_by_thirdroomid(tmp_path):
    async with running_node(tmp_path) as env:
        node, key = env.node, env.key
        third = await env.create_room(thirdroomid="math-7b")
        for m in ("getlogininfo", "getonlineuser"):
            assert (await webapi(node, key, m))["result"] == 5100
            assert (await webapi(node, key, m, serial="999"))["result"] == 4007
            assert (await webapi(node, key, m, thirdroomid="nope"))["result"] == 4007
            assert (await webapi(node, key, m, serial=env.serial, thirdroomid="math-7b"))["result"] == 4007
            assert (await webapi(node, key, m, thirdroomid="math-7b"))["result"] == 4105
            assert (await webapi(node, "k" * 16, m, serial=third))["result"] == 4109
        for m in ("getanswerlist", "getgiftinfo"):
            assert (await webapi(node, key, m))["result"] == 5100
            assert (await webapi(node, key, m, serial="999"))["result"] == 4007
            assert (await webapi(node, key, m, serial=third))["result"] == 4105
        assert (await webapi(node, key, "getlogininfo", serial=third, starttime="x"))["result"] == 4004
        assert (await webapi(node, key, "getlogininfo", serial=third, starttime="9",
                             endtime="8"))["result"] == 4005
        c, *_ = await joined(env.signal.url, tk(node, third, "zoe", 2, "Zoe"))
        got = await webapi(node, key, "getonlineuser", thirdroomid="math-7b")
        assert [u["buddyid"] for u in got["onlineuser"]] == ["zoe"]
        assert got["onlineuser"][0]["serial"] == third
        await poll(lambda: _ok(webapi(node, key, "getlogininfo", thirdroomid="math-7b")),
                   what="zoe's entry")
        # another enterprise's key sees none of it
        async with node.sessions() as s:
            other = await create_company(s, "Other")
            await s.commit()
        for m in ("getlogininfo", "getonlineuser", "getanswerlist", "getgiftinfo"):
            assert (await webapi(node, other.authkey, m, serial=third))["result"] == 4108
        assert (await webapi(node, other.authkey, "getonlineuser",
                             thirdroomid="math-7b"))["result"] == 4007
        await close_clients()


async def test_a_node_on_its_own_memory_closes_every_stay_when_it_stops(tmp_path):
    """Nobody can resume into a room state that ends with the process: the stays end too."""
    async with running_node(tmp_path, grace=30.0) as env:
        node, key, serial = env.node, env.key, env.serial
        c, *_ = await joined(env.signal.url, tk(node, serial, "ann", 2, "Ann"))
        d, *_ = await joined(env.signal.url, tk(node, serial, "dan", 2, "Dan"))
        dropped = await timed(d.close())    # in its grace period when the node stops
        await poll(lambda: _ok(webapi(node, key, "getlogininfo", serial=serial)), what="entries")
        stopping = now_ms()
    stopped = now_ms()
    async with running_node(tmp_path) as again:
        got = await webapi(again.node, key, "getlogininfo", serial=serial)
    rows = {r["userid"]: r for r in got["logininfo"]}
    assert within(rows["ann"]["outtime_ms"], (stopping, stopped))
    assert dropped[0] <= rows["dan"]["outtime_ms"] <= dropped[1] + 1000
    assert not any(r["online"] for r in rows.values())


async def test_the_python_sdk_says_what_device_it_is(tmp_path):
    from tkroom.client import Room

    async with running_node(tmp_path) as env:
        rooms = []
        for userid, opts in (("py", {}), ("droid", {"client_type": 3})):
            room = Room()
            room.init("app", **opts)
            await room.joinroom("127.0.0.1", env.port, userid.title(), userid,
                                {"serial": env.serial, "password": "stud1"})
            rooms.append(room)

        async def both() -> dict[str, str] | None:
            r = await webapi(env.node, env.key, "getlogininfo", serial=env.serial)
            got = {x["userid"]: x["clienttype"] for x in r.get("logininfo") or []}
            return got if len(got) == 2 else None

        assert await poll(both, what="both entries") == {"py": "python", "droid": "3"}
        for room in rooms:
            await room.leaveroom()


async def _ok(coro: Any) -> bool:
    return (await coro)["result"] == 0


async def test_a_client_type_is_bounded_and_never_refuses_a_join():
    d = MemoryDirectory(rooms={"r": RoomInfo("r", 1, "Room")})
    server = await start_server(d)
    try:
        given = {"a": "7" * 1000, "b": {"x": 1}, "c": True, "d": "pc\u0000\nweb", "e": 5}
        for userid, kind in given.items():
            c = await Client.connect(server.url)
            CLIENTS.append(c)
            await c.join(ticket("r", userid), clientType=kind)
        await poll(lambda: _async(len(d.logins) == 5), what="five entries")
        assert {x["userid"]: x["clienttype"] for x in d.logins} == {
            "a": "7" * 32, "b": "", "c": "", "d": "pcweb", "e": "5"}
    finally:
        await stop_server(server)


class _SlowDirectory(MemoryDirectory):
    """A store that takes its time (or fails) recording attendance."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.release = asyncio.Event()
        self.fail = False
        self.calls: list[int] = []   # how many records each write carried

    async def login_events(self, records: list[dict[str, Any]]) -> None:
        self.calls.append(len(records))
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the database is away")
        await super().login_events(records)


async def test_joining_never_waits_for_the_attendance_store_nor_fails_with_it(caplog):
    d = _SlowDirectory(rooms={"r": RoomInfo("r", 1, "Room")})
    server = await start_server(d)
    try:
        a = await Client.connect(server.url)
        b = await Client.connect(server.url)
        CLIENTS.extend([a, b])
        await a.join(ticket("r", "a", 0))       # answered while the store is stuck
        await b.join(ticket("r", "b"))
        await b.ok("leaveRoom")
        assert d.logins == []
        d.release.set()
        await poll(lambda: _async(len(d.logins) == 3), what="the queued records")
        assert [(x["userid"], x["entering"]) for x in d.logins] == [
            ("a", True), ("b", True), ("b", False)], "written in order"
        # a failing store is logged and changes nothing for the users
        d.fail = True
        c = await Client.connect(server.url)
        CLIENTS.append(c)
        await c.join(ticket("r", "c"))
        await poll(lambda: _async(any("could not record the entry of c" in r.getMessage()
                                      for r in caplog.records)), what="the logged failure")
        assert {u["id"] for u in (await c.ok("getRoomUsers", {}))["userlist"]} == {"a", "c"}
    finally:
        await stop_server(server)
    caplog.clear()      # the errors logged are the ones this test expects


async def test_a_join_storm_is_written_in_a_few_batches_in_order():
    """Thirty joins while the store is busy are not thirty transactions: the writer takes
    everything that queued meanwhile in one call, and keeps the order."""
    d = _SlowDirectory(rooms={"r": RoomInfo("r", 1, "Room", maxusers=100)})
    server = await start_server(d)
    try:
        users = [f"u{i:02d}" for i in range(30)]
        for u in users:
            c = await Client.connect(server.url)
            CLIENTS.append(c)
            await c.join(ticket("r", u))
        d.release.set()
        await poll(lambda: _async(len(d.logins) == 30), what="the thirty entries")
        assert [x["userid"] for x in d.logins] == users
        assert sum(d.calls) == 30 and len(d.calls) <= 3, d.calls
    finally:
        await stop_server(server)


async def test_a_full_attendance_queue_drops_and_says_so(caplog, monkeypatch):
    monkeypatch.setattr(signal_server, "ATTENDANCE_QUEUE", 2)   # the bound, made small
    d = _SlowDirectory(rooms={"r": RoomInfo("r", 1, "Room")})
    server = await start_server(d)
    try:
        clients = []
        for u in ("u1", "u2", "u3", "u4"):
            c = await Client.connect(server.url)
            CLIENTS.append(c)
            await c.join(ticket("r", u))
            clients.append(c)
        # the writer holds one record, the queue two: the fourth entry is dropped and logged
        assert any("attendance queue full" in r.getMessage() for r in caplog.records)
        d.release.set()
        await poll(lambda: _async(len(d.logins) == 3), what="what was queued")
        assert {x["userid"] for x in d.logins} == {"u1", "u2", "u3"}
    finally:
        await stop_server(server)   # four exits at once overflow the small queue again
    caplog.clear()


# the cluster ---------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def cluster_node(tmp: Path, db: str, redis_url: str, prefix: str,
                       grace: float = 5.0) -> AsyncIterator[Node]:
    settings = Settings(host="127.0.0.1", port=0, signal_port=free_port(), data_dir=tmp,
                        database_url=db, throttle_base_s=0.001, throttle_max_s=0.01)
    state = open_state(redis_url, prefix=prefix, grace=grace, heartbeat=0.1)
    node = build_node(settings, state=state, media=False, web=False, courseware=False,
                      grace=grace, sweep_interval=0.05)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


@pytest.mark.redis
@pytest.mark.postgres
async def test_two_nodes_one_class_list_and_record_the_same_users(tmp_path, redis_url, own_pg_url):
    prefix = f"c{secrets.token_hex(4)}"
    async with cluster_node(tmp_path / "a", own_pg_url, redis_url, prefix) as a, \
            cluster_node(tmp_path / "b", own_pg_url, redis_url, prefix) as b:
        async with a.sessions() as s:
            key = (await create_company(s, "School")).authkey
            await s.commit()
        now = int(time.time())
        made = await webapi(a, key, "roomcreate", roomname="Math", roomtype=3, starttime=now,
                            endtime=now + 3600, passwordrequired=1, **PASSWORDS)
        serial = made["serial"]
        assert a.secret == b.secret, "one secret per cluster"
        t, *_ = await joined(a.signal.url, tk(a, serial, "t", 0, "Teacher"))
        s1, *s1_in = await joined(b.signal.url, tk(a, serial, "s1", 2, "Sam"), clientType=2)
        s2, *_ = await joined(a.signal.url, tk(a, serial, "s2", 2, "Sue"))
        for n in (a, b):
            got = await webapi(n, key, "getonlineuser", serial=serial)
            assert sorted(u["buddyid"] for u in got["onlineuser"]) == ["s1", "s2", "t"], n.base_url
        left = await timed(s1.ok("leaveRoom"))
        for n in (a, b):
            got = await webapi(n, key, "getonlineuser", serial=serial)
            assert sorted(u["buddyid"] for u in got["onlineuser"]) == ["s2", "t"]

        async def written() -> list[dict[str, Any]] | None:
            r = await webapi(b, key, "getlogininfo", serial=serial)
            rows = r.get("logininfo") or []
            return rows if len(rows) == 3 and any(not x["online"] for x in rows) else None

        rows = await poll(written, what="the stays both nodes wrote")
        [sam] = [r for r in rows if r["userid"] == "s1"]
        assert within(sam["entertime_ms"], tuple(s1_in)) and within(sam["outtime_ms"], left)
        assert sam["clienttype"] == "2"
        assert {r["userid"] for r in rows if r["online"]} == {"t", "s2"}


# the classroom tools' records ----------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_db(request) -> str | None:
    return request.getfixturevalue("own_pg_url") if request.param == "postgres" else None


@pytest.fixture
async def store_node(store_db, tmp_path) -> AsyncIterator[tuple[Node, str, str]]:
    async with running_node(tmp_path, signal=False, database_url=store_db) as env:
        yield env.node, env.key, env.serial


async def test_answers_stored_by_the_tools_are_listed_with_right_and_wrong(store_node):
    node, key, serial = store_node
    d = node.directory
    await d.login_event(serial, "ann", entering=True, ts_ms=1_800_000_000_000, role=2,
                        nickname="Ann", clienttype="", address="", sid="s-ann")
    q1 = {"qid": "q1", "title": "2 + 2?", "options": ["3", "4", "5"], "multiple": False,
          "right": [1], "asked_at": 1_800_000_000_000}
    await d.save_answers(serial, "q1", q1, {"ann": [1], "bob": [2], "cat": [1]}, 1_800_000_060_000)
    q2 = {"qid": "q2", "options": ["red", "green", "blue", "black"], "multiple": True}
    await d.save_answers(serial, "q2", q2, {"ann": [0, 2], "bob": [2]}, 1_800_000_120_000)
    got = await webapi(node, key, "getanswerlist", serial=serial)
    assert got["result"] == 0
    c1, c2 = got["answerlist"]
    assert c1["qid"] == "q1" and c1["question"]["title"] == "2 + 2?"
    assert c1["question"]["options"] == ["3", "4", "5"] and c1["closetime"] == 1_800_000_060
    assert c1["answered"] == 3 and c1["counts"] == [0, 2, 1] and c1["rightcount"] == 2
    assert [a["nickname"] for a in c1["answers"]] == ["Ann", "", ""]
    assert {a["userid"]: (a["answer"], a["right"]) for a in c1["answers"]} == {
        "ann": ([1], 1), "bob": ([2], 0), "cat": ([1], 1)}
    assert c2["counts"] == [1, 0, 2, 0] and c2["rightcount"] is None
    assert all(a["right"] is None for a in c2["answers"]), "no right answer given: neither"
    only = await webapi(node, key, "getanswerlist", serial=serial, qid="q2")
    assert [c["qid"] for c in only["answerlist"]] == ["q2"]
    assert (await webapi(node, key, "getanswerlist", serial=serial, qid="q9"))["result"] == 4105
    # closing the same card again replaces what was kept
    await d.save_answers(serial, "q2", q2, {"ann": [1]}, 1_800_000_180_000)
    again = await webapi(node, key, "getanswerlist", serial=serial, qid="q2")
    assert again["answerlist"][0]["answers"] == [
        {"userid": "ann", "nickname": "Ann", "answer": [1], "right": None}]


async def test_trophies_stored_by_the_tools_are_totalled_per_student(store_node):
    node, key, serial = store_node
    d = node.directory
    await d.login_event(serial, "ann", entering=True, ts_ms=1_800_000_000_000, role=2,
                        nickname="Ann", clienttype="", address="", sid="s-ann")
    await d.add_gift(serial, "tea", ["ann", "bob"], 1_800_000_010_000)
    await d.add_gift(serial, "tea", ["ann"], 1_800_000_020_000)
    await d.add_gift(serial, "asst", ["ann"], 1_800_000_030_000)
    got = await webapi(node, key, "getgiftinfo", serial=serial)
    assert got["result"] == 0
    ann, bob = got["giftinfo"]
    assert (ann["userid"], ann["nickname"], ann["giftnumber"]) == ("ann", "Ann", 3)
    assert [(g["sender"], g["time"]) for g in ann["gifts"]] == [
        ("tea", 1_800_000_010), ("tea", 1_800_000_020), ("asst", 1_800_000_030)]
    assert (bob["userid"], bob["nickname"], bob["giftnumber"]) == ("bob", "", 1)
    one = await webapi(node, key, "getgiftinfo", serial=serial, userid="bob")
    assert [g["userid"] for g in one["giftinfo"]] == ["bob"]
    assert (await webapi(node, key, "getgiftinfo", serial=serial, userid="zed"))["result"] == 4105


async def test_an_exit_recorded_before_its_entry_makes_one_stay(store_node):
    """Nodes record on their own: the exit (a sweep elsewhere) may reach the store first."""
    node, key, serial = store_node
    d = node.directory
    await d.login_event(serial, "ann", entering=False, ts_ms=1_800_000_090_000, role=2,
                        nickname="Ann", clienttype="", address="", sid="sid-1")
    await d.login_event(serial, "ann", entering=True, ts_ms=1_800_000_000_000, role=2,
                        nickname="Ann", clienttype="5", address="127.0.0.9", sid="sid-1")
    [row] = (await webapi(node, key, "getlogininfo", serial=serial))["logininfo"]
    assert (row["entertime"], row["outtime"], row["duration"]) == (1_800_000_000, 1_800_000_090, 90)
    assert (row["clienttype"], row["ipaddress"], row["online"]) == ("5", "127.0.0.9", 0)


async def test_entries_and_exits_racing_for_the_same_stays(store_node):
    """Two nodes write a stay's entry and exit at the same moment: one row each, both times."""
    node, key, serial = store_node
    d = node.directory

    def event(i: int, entering: bool) -> Any:
        return d.login_event(serial, f"u{i}", entering=entering, ts_ms=1_800_000_000_000 + i * 1000
                             + (0 if entering else 500), role=2, nickname=f"U{i}",
                             clienttype="5" if entering else "", address="127.0.0.2" if entering else "",
                             sid=f"race-{i}")

    await asyncio.gather(*(event(i, e) for i in range(20) for e in (False, True)))
    rows = (await webapi(node, key, "getlogininfo", serial=serial))["logininfo"]
    assert len(rows) == 20
    for r in rows:
        i = int(r["userid"][1:])
        assert (r["entertime_ms"], r["outtime_ms"]) == (1_800_000_000_000 + i * 1000,
                                                        1_800_000_000_000 + i * 1000 + 500)
        assert (r["clienttype"], r["ipaddress"], r["online"]) == ("5", "127.0.0.2", 0)


def test_records_through_the_threaded_api(api: Api):
    """The same methods through the shared HTTP fixture: a node without signalling cannot say
    who is in a room, and says so (4107) rather than answering an empty class."""
    serial = api.room()
    assert api("getonlineuser", serial=serial)["result"] == 4107
    assert api("getlogininfo", serial=serial)["result"] == 4105


async def test_a_quiz_and_trophies_in_a_real_class_reach_the_web_api(tmp_path):
    """The whole path a school relies on: the tools in the signalling server write through the
    node's own store, and the Web API reads back what happened in the class."""
    async with running_node(tmp_path) as env:
        node, serial, url = env.node, env.serial, env.signal.url
        tea, *_ = await joined(url, tk(node, serial, "tea", 0, "Teacher"))
        ann, *_ = await joined(url, tk(node, serial, "ann", 2, "Ann"))
        bob, *_ = await joined(url, tk(node, serial, "bob", 2, "Bob"))
        await tea.ok("pubMsg", {"name": "Question", "id": "Question_q1", "toID": "__all",
                                "data": {"qid": "q1", "title": "2 + 2?",
                                         "options": ["3", "4", "5"], "right": [1]}})
        for who, pick in ((ann, 1), (bob, 2)):
            await who.ok("pubMsg", {"name": "AnswerCommit", "id": "AnswerCommit",
                                    "toID": "__none", "data": {"qid": "q1", "answer": [pick]}})
        await tea.ok("pubMsg", {"name": "PublishResult", "id": "PublishResult_q1",
                                "data": {"qid": "q1"}})
        await tea.ok("pubMsg", {"name": "sendgift", "data": {"receivers": ["ann"]}})

        async def entered() -> bool:   # answers take their nicknames from the attendance
            got = await webapi(node, env.key, "getlogininfo", serial=serial)
            return {e["userid"] for e in got.get("logininfo", [])} >= {"ann", "bob"}

        await poll(entered, what="the students' entries (written in the background)")

        async def cards() -> list[dict[str, Any]] | None:
            got = await webapi(node, env.key, "getanswerlist", serial=serial)
            return got.get("answerlist") if got["result"] == 0 else None

        (c1,) = await poll(cards, what="the closed card in getanswerlist")
        assert c1["qid"] == "q1" and c1["counts"] == [0, 1, 1] and c1["rightcount"] == 1
        assert {a["userid"]: (a["answer"], a["right"], a["nickname"]) for a in c1["answers"]} \
            == {"ann": ([1], 1, "Ann"), "bob": ([2], 0, "Bob")}

        async def gifts() -> list[dict[str, Any]] | None:
            got = await webapi(node, env.key, "getgiftinfo", serial=serial)
            return got.get("giftinfo") if got["result"] == 0 else None

        (g,) = await poll(gifts, what="the trophy in getgiftinfo")
        assert (g["userid"], g["nickname"], g["giftnumber"]) == ("ann", "Ann", 1)
        assert [x["sender"] for x in g["gifts"]] == ["tea"]
