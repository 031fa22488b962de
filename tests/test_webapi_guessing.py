"""Many password checks at once: a parallel guesser, a class entering together, a bystander.

Each test runs its own node in-process and counts the scrypt runs the node started
(``PasswordChecker.runs``): counts, not timings, are what the assertions bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from webapi_nodes import Api, NodeThread, node_settings, wait_for


@pytest.fixture
def slow_node(tmp_path: Path) -> Iterator[NodeThread]:
    """A node whose throttle makes an address wait 30 s after each wrong password for a room."""
    n = NodeThread(node_settings(tmp_path, throttle_base_s=30.0, throttle_max_s=30.0))
    yield n
    n.stop()


@pytest.fixture
def fast_node(tmp_path: Path) -> Iterator[NodeThread]:
    """A node with the tests' tiny throttle waits, so a guesser is bound only by scrypt."""
    n = NodeThread(node_settings(tmp_path))
    yield n
    n.stop()


def runs(n: NodeThread) -> int:
    return n.node.api.checker.runs


def form(serial: str, password: str, **kw: str) -> dict[str, str]:
    return {"serial": serial, "nickname": "N", "password": password, **kw}


def runs_of_one_check(n: NodeThread, api: Api, password: str) -> int:
    """How many scrypt runs one first checkroom with ``password`` costs in a fresh room."""
    serial = api.room()
    before = runs(n)
    api.client("checkroom", **form(serial, password))
    return runs(n) - before


async def test_parallel_guesses_from_one_address_are_verified_one_at_a_time(slow_node):
    n = slow_node
    api = Api(n, n.enterprise())
    per_guess = runs_of_one_check(n, api, "wrong999")
    serial = api.room()
    start = runs(n)
    async with httpx.AsyncClient(base_url=n.url, timeout=120) as c:
        tasks = [asyncio.create_task(c.post("/ClientAPI/checkroom", data=form(serial, f"guess{i:03d}")))
                 for i in range(64)]
        try:
            done, _ = await asyncio.wait(tasks, timeout=120, return_when=asyncio.FIRST_COMPLETED)
            assert done, "no guess was answered"
            assert {t.result().json()["result"] for t in done} == {4008}
            # The next guess may only be verified 30 s after this failure: for the next few
            # seconds the 63 others wait, and exactly one guess's scrypt runs have happened.
            for _ in range(30):
                assert runs(n) - start == per_guess * len(done) == per_guess
                await asyncio.sleep(0.1)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_class_entering_at_once_costs_one_verification(fast_node):
    n = fast_node
    api = Api(n, n.enterprise())
    per_check = runs_of_one_check(n, api, "stud1")
    serial = api.room()
    start = runs(n)
    async with httpx.AsyncClient(base_url=n.url, timeout=120) as c:
        answers = await asyncio.gather(
            *(c.post("/ClientAPI/checkroom", data=form(serial, "stud1")) for _ in range(50)))
    assert [r.json()["result"] for r in answers] == [0] * 50
    assert {r.json()["roomrole"] for r in answers} == {2}
    assert runs(n) - start == per_check, "one verification for the whole class"
    start = runs(n)
    async with httpx.AsyncClient(base_url=n.url, timeout=120) as c:
        answers = await asyncio.gather(
            *(c.post("/ClientAPI/checkroom", data=form(serial, "teach1", userrole="0")) for _ in range(20)))
    assert {(r.json()["result"], r.json()["roomrole"]) for r in answers} == {(0, 0)}
    assert runs(n) - start == 1, "the teacher's hash alone, once"


async def test_a_class_entering_a_room_of_an_older_version_upgrades_it_once(fast_node):
    """Old scrypt hashes: the class's shared verification checks them and stores one new hash;
    the next class (the room read afresh, as another node would) costs nothing."""
    from tkroom.passwords import scrypt_hash
    from tkroom.store.models import Room

    n = fast_node
    api = Api(n, n.enterprise())
    per_check = runs_of_one_check(n, api, "stud1")
    serial = api.room()

    async def make_old() -> None:
        async with n.node.sessions() as s:
            room = await s.get(Room, serial)
            for column, pw in (("chairmanpwd", "teach1"), ("assistantpwd", "assist1"),
                               ("patrolpwd", "patrol1"), ("confuserpwd", "stud1")):
                setattr(room, column, scrypt_hash(pw))
            await s.commit()

    n.run(make_old())
    n.node.rooms.clear()
    start = runs(n)
    async with httpx.AsyncClient(base_url=n.url, timeout=120) as c:
        answers = await asyncio.gather(
            *(c.post("/ClientAPI/checkroom", data=form(serial, "stud1")) for _ in range(50)))
    assert [(r.json()["result"], r.json()["roomrole"]) for r in answers] == [(0, 2)] * 50
    assert runs(n) - start == per_check + 1, "one verification and one new hash for the whole class"
    n.node.rooms.clear()
    start = runs(n)
    async with httpx.AsyncClient(base_url=n.url, timeout=120) as c:
        answers = await asyncio.gather(
            *(c.post("/ClientAPI/checkroom", data=form(serial, "stud1")) for _ in range(20)))
    assert {(r.json()["result"], r.json()["roomrole"]) for r in answers} == {(0, 2)}
    assert runs(n) == start, "the upgraded hash was remembered as verified"


async def test_a_bystander_gets_in_while_an_address_floods_guesses(fast_node):
    n = fast_node
    api = Api(n, n.enterprise())
    rooms = [api.room() for _ in range(4)]
    mine = api.room()
    stop = asyncio.Event()
    answered: list[int] = []

    async def guesser(c: httpx.AsyncClient, i: int) -> None:
        k = 0
        while not stop.is_set():
            r = await c.post("/ClientAPI/checkroom", data=form(rooms[i % 4], f"g{i:02d}x{k:04d}"))
            answered.append(r.json()["result"])
            k += 1

    guess_client = httpx.AsyncClient(base_url=n.url, timeout=120, limits=httpx.Limits(max_connections=64))
    bystander = httpx.AsyncClient(base_url=n.url, timeout=120,
                                  transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"))
    tasks = [asyncio.create_task(guesser(guess_client, i)) for i in range(64)]
    try:
        start = runs(n)
        await asyncio.to_thread(wait_for, lambda: runs(n) - start >= 20 or any(t.done() for t in tasks),
                                120, what="the flood to start")
        assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
        before = runs(n)
        r = (await bystander.post("/ClientAPI/checkroom", data=form(mine, "stud1"))).json()
        during = runs(n) - before
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await guess_client.aclose()
        await bystander.aclose()
    assert r["result"] == 0 and r["roomrole"] == 2
    assert set(answered) <= {4008}
    # The bystander waited behind at most a few of the guesser's verifications (5 scrypt runs
    # each), not behind one per parallel request (64 x 5).
    assert during <= 40, during



async def test_an_address_has_one_verification_at_a_time_over_all_rooms():
    from tkroom.webapi.throttle import Throttle

    throttle = Throttle(base_s=0.001, cap_s=0.001)
    inside: list[str] = []
    peaks: dict[str, int] = {}
    overlapped = set()

    async def verify(addr: str, scope: str) -> None:
        async with throttle.guess(addr, scope):
            inside.append(addr)
            peaks[addr] = max(peaks.get(addr, 0), inside.count(addr))
            if len(set(inside)) > 1:
                overlapped.add(addr)
            await asyncio.sleep(0.01)
            inside.remove(addr)
            throttle.failed(addr, scope)

    await asyncio.gather(*(verify("10.0.0.1", f"room:{i % 4}") for i in range(16)),
                         *(verify("10.0.0.2", "room:0") for _ in range(3)))
    assert peaks == {"10.0.0.1": 1, "10.0.0.2": 1}
    # 10.0.0.1's first verification starts first, so 10.0.0.2 must get in beside it.
    assert "10.0.0.2" in overlapped, "another address is not held back"
