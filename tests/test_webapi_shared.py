"""Two nodes on one PostgreSQL and one real Redis: the wrong-password throttle and the verified
password cache are the cluster's, not each node's (``tkroom.webapi.shared``); with Redis killed
the nodes still answer, throttling from their own memory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from webapi_nodes import Api, NodeThread, node_settings

pytestmark = pytest.mark.postgres


def check(api: Api, serial: str, password: str) -> int:
    return api.client("checkroom", serial=serial, nickname="N", password=password)["result"]


def pair(tmp_path: Path, db: str, redis_url: str, **kw: Any) -> Iterator[tuple[NodeThread, NodeThread]]:
    a = NodeThread(node_settings(tmp_path / "a", db, redis_url=redis_url, **kw))
    try:
        b = NodeThread(node_settings(tmp_path / "b", db, redis_url=redis_url, **kw))
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


@pytest.fixture
def nodes(tmp_path: Path, own_pg_url: str, redis_url: str) -> Iterator[tuple[NodeThread, NodeThread]]:
    """Throttle waits of 2 s: far longer than one verification, so a wait is told from work."""
    yield from pair(tmp_path, own_pg_url, redis_url, throttle_base_s=2.0, throttle_max_s=2.0)


def runs(n: NodeThread) -> int:
    return n.node.api.checker.runs


def test_a_guesser_alternating_nodes_is_slowed_as_on_one(nodes, redis_url):
    a, b = nodes
    company = a.enterprise()
    on_a, on_b = Api(a, company), Api(b, company)
    serial = on_a.room()
    assert check(on_a, serial, "guess001") == 4008
    wait, ready = b.run(b.node.api.throttle.standing("127.0.0.1", f"room:{serial}"))
    assert wait == 2.0 and ready <= 2.0, "node B knows node A's failure"
    t0 = time.monotonic()
    assert check(on_b, serial, "guess002") == 4008
    assert time.monotonic() - t0 >= 2.0, "node B waited the delay node A set"
    assert on_a.client("checkroom", serial=on_a.room(), nickname="N", password="stud1")["result"] == 0, \
        "another room is not slowed down"
    with redis.Redis.from_url(redis_url) as r:
        keys = list(r.scan_iter("tkroom:sec:*"))
        ttls = [r.pttl(k) for k in keys]
    assert keys and all(t > 0 for t in ttls), "every shared key expires by itself"


def test_a_password_verified_on_one_node_is_known_to_the_other(nodes):
    a, b = nodes
    company = a.enterprise()
    on_a, on_b = Api(a, company), Api(b, company)
    serial = on_a.room()
    before_a = runs(a)
    assert check(on_a, serial, "stud1") == 0
    assert runs(a) > before_a, "node A verified it"
    before_b = runs(b)
    assert check(on_b, serial, "stud1") == 0
    assert runs(b) == before_b, "node B took node A's word, with no hash run"

    # The password changes: the old one is let in nowhere, the new one is verified afresh.
    r = on_b("roommodify", serial=serial, confuserpwd="stud2")
    assert r["result"] == 0, r
    b.node.rooms.invalidate(serial)
    a.node.rooms.invalidate(serial)
    assert check(on_a, serial, "stud1") == 4008
    assert check(on_b, serial, "stud1") == 4008
    before_b = runs(b)
    assert check(on_b, serial, "stud2") == 0
    assert runs(b) > before_b, "a changed password is verified, not found in the cache"


def test_with_redis_killed_the_nodes_still_answer_and_throttle(tmp_path, own_pg_url):
    from redis_proc import RedisProc

    proc = RedisProc()
    proc.start(wait=20)
    try:
        gen = pair(tmp_path, own_pg_url, proc.url, throttle_base_s=2.0, throttle_max_s=2.0)
        a, b = next(gen)
        try:
            on_a = Api(a, a.enterprise())
            serial = on_a.room()
            proc.kill()
            assert check(on_a, serial, "stud1") == 0, "a right password still lets in"
            t0 = time.monotonic()
            assert check(on_a, serial, "guess001") == 4008
            assert check(on_a, serial, "guess002") == 4008
            assert time.monotonic() - t0 >= 2.0, "the node's own memory throttles meanwhile"
            assert a.node.api.throttle.delay("127.0.0.1", f"room:{serial}") == 2.0
        finally:
            gen.close()
    finally:
        proc.stop()
