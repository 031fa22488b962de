"""What a load balancer and Prometheus see of a node: /healthz, /readyz turning 503 while the
database or Redis it uses is stopped (and 200 once they are back), a stopping node draining,
and /metrics counting a scripted class (values, not just names)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from client_node import PASSWORDS
from redis_proc import RedisProc
from signal_helpers import Client
from tkroom.config import Settings
from tkroom.media.servers import static_name
from tkroom.node import Node
from tkroom.planes import build_node
from tkroom.rooms.courseware import CONVERTING
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company
from tkroom.store.models import Company, File
from webapi_nodes import PgServer, free_port


def _settings(tmp: Path, **kw: Any) -> Settings:
    return Settings(host="127.0.0.1", port=0, signal_port=0, data_dir=tmp, throttle_base_s=0.001,
                    throttle_max_s=0.01, **kw)


@contextlib.asynccontextmanager
async def _node(settings: Settings, **kw: Any) -> AsyncIterator[Node]:
    node = build_node(settings, media=False, web=False, sweep_interval=0.05, **kw)
    await node.start()
    try:
        yield node
    finally:
        node.end_drain()
        await node.stop()


async def _get(node: Node, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        return await http.get(path)


async def _until(what: str, cond: Callable[[], Awaitable[Any]], wait: float = 60.0) -> Any:
    """Poll ``cond`` (an HTTP call) until it is truthy; generous for a loaded machine."""
    deadline = time.monotonic() + wait
    while True:
        got = await cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _ready_is(node: Node, status: int) -> dict[str, Any] | None:
    r = await _get(node, "/readyz")
    return r.json() if r.status_code == status else None


async def test_healthz_and_readyz_of_a_healthy_node(tmp_path):
    async with _node(_settings(tmp_path)) as node:
        r = await _get(node, "/healthz")
        assert r.status_code == 200 and r.json() == {"ok": True}
        r = await _get(node, "/readyz")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ready"] is True and body["draining"] is False
        assert body["checks"]["database"]["ok"] is True
        assert body["checks"]["database"]["dialect"] == "sqlite"
        conv = body["checks"]["converters"]
        assert conv["ok"] is True and conv["workers"] == 2
        assert isinstance(conv["missing_tools"], list)
        assert "redis" not in body["checks"]      # memory state: nothing to check
        assert body["checks"]["storage"] == {"ok": True, "kind": "folder", "shared": False,
                                             "root": str(tmp_path)}


async def test_readyz_follows_s3_and_a_node_without_it_does_not_start(tmp_path):
    from s3_server import MotoS3
    from tkroom.storage import StorageError

    server = MotoS3(bucket="ops")
    await asyncio.to_thread(server.start)
    try:
        async with _node(_settings(tmp_path, **server.values())) as node:
            ok = await _until("ready", lambda: _ready_is(node, 200))
            assert ok["checks"]["storage"] == {"ok": True, "kind": "s3", "bucket": "ops"}
            await asyncio.to_thread(server.kill)
            down = await _until("not ready without S3", lambda: _ready_is(node, 503))
            assert down["checks"]["storage"]["ok"] is False
            assert "StorageError" in down["checks"]["storage"]["error"]
            assert down["checks"]["database"]["ok"] is True
        with pytest.raises(StorageError, match="ops"):
            await build_node(_settings(tmp_path / "b", **server.values()),
                             media=False, web=False).start()
    finally:
        server.stop()


@pytest.mark.postgres
async def test_readyz_follows_the_database(tmp_path):
    pg = PgServer()
    pg.start()
    try:
        async with _node(_settings(tmp_path, database_url=pg.url())) as node:
            ok = await _until("ready", lambda: _ready_is(node, 200))
            assert ok["checks"]["database"] == {**ok["checks"]["database"], "ok": True,
                                                "dialect": "postgresql"}
            await asyncio.to_thread(pg.stop)
            down = await _until("not ready without PostgreSQL", lambda: _ready_is(node, 503))
            assert down["ready"] is False and down["draining"] is False
            assert down["checks"]["database"]["ok"] is False
            assert down["checks"]["database"]["error"]
            assert down["checks"]["converters"]["ok"] is True   # only the database failed
            await asyncio.to_thread(pg.start)
            back = await _until("ready again", lambda: _ready_is(node, 200))
            assert back["checks"]["database"]["ok"] is True
    finally:
        await asyncio.to_thread(pg.cleanup)


@pytest.mark.redis
async def test_readyz_follows_redis(tmp_path):
    redis = RedisProc()
    redis.start()
    try:
        async with _node(_settings(tmp_path, redis_url=redis.url)) as node:
            ok = await _until("ready", lambda: _ready_is(node, 200))
            assert ok["checks"]["redis"]["ok"] is True
            assert ok["checks"]["redis"]["backend"] == "redis"
            await asyncio.to_thread(redis.kill)
            down = await _until("not ready without Redis", lambda: _ready_is(node, 503))
            assert down["checks"]["redis"]["ok"] is False
            assert down["checks"]["database"]["ok"] is True
            await asyncio.to_thread(redis.start)
            back = await _until("ready again", lambda: _ready_is(node, 200))
            assert back["checks"]["redis"]["ok"] is True
    finally:
        await asyncio.to_thread(redis.stop)


async def _enterprise_room(node: Node) -> tuple[str, str]:
    async with node.sessions() as s:
        c = await create_company(s, "School")
        await s.commit()
        key = c.authkey
    now = int(time.time())
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        r = await http.post("/WebAPI/roomcreate", data=dict(
            key=key, roomname="Math", roomtype=3, starttime=now, endtime=now + 3600,
            passwordrequired=1, maxusers=50, **PASSWORDS))
    assert r.json()["result"] == 0, r.text
    return key, r.json()["serial"]


async def _ticket(node: Node, serial: str, password: str, nickname: str) -> str:
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        r = await http.post("/ClientAPI/checkroom", data=dict(serial=serial, password=password,
                                                              nickname=nickname))
    body = r.json()
    assert body["result"] == 0, body
    return body["ticket"]


class Scrape:
    """One /metrics answer: ``value(name, **labels)`` of a sample (0 when absent)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [s for fam in text_string_to_metric_families(text) for s in fam.samples]

    def value(self, name: str, **labels: str) -> float:
        found = [s.value for s in self.samples
                 if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else 0.0

    def label_values(self, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if label in s.labels}


async def _scrape(node: Node) -> Scrape:
    r = await _get(node, "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return Scrape(r.text)


async def test_metrics_follow_a_scripted_class(tmp_path):
    async with _node(_settings(tmp_path)) as node:
        before = await _scrape(node)
        assert before.value("tkroom_rooms") == 0
        assert before.value("tkroom_signal_joins_total", role="teacher") == 0
        key, serial = await _enterprise_room(node)
        async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
            bad = await http.post("/WebAPI/roomcreate", data={"key": "wrong-key-0000000"})
            bad_code = bad.json()["result"]
            junk = await http.post("/WebAPI/no-such-method-<script>", data={"key": key})
            assert junk.status_code == 404
        teacher_t = await _ticket(node, serial, "teach1", "Tom")
        student_t = await _ticket(node, serial, "stud1", "Amy")
        teacher = await Client.connect(f"ws://127.0.0.1:{node.settings.signal_port}/")
        student = await Client.connect(f"ws://127.0.0.1:{node.settings.signal_port}/")
        stranger = await Client.connect(f"ws://127.0.0.1:{node.settings.signal_port}/")
        try:
            await teacher.join(teacher_t)
            await student.join(student_t)
            refused = await stranger.req("joinRoom", {"ticket": 5})
            assert refused["code"] == 63
            assert (await stranger.req("no-such-request-xyz"))["code"] == 103
            mid = await _scrape(node)
            for i in range(3):
                await teacher.ok("sendMessage", {"message": f"hello {i}", "toID": "__all"})
            await student.event("sendMessage", message="hello 2")
            m = await _scrape(node)
        finally:
            for c in (teacher, student, stranger):
                await c.close()

        # rooms and members held right now, joins by role, the refusal by its code
        assert m.value("tkroom_rooms") == 1
        assert m.value("tkroom_members", role="teacher") == 1
        assert m.value("tkroom_members", role="student") == 1
        assert m.value("tkroom_members", role="assistant") == 0
        assert m.value("tkroom_signal_joins_total", role="teacher") == 1
        assert m.value("tkroom_signal_joins_total", role="student") == 1
        assert m.value("tkroom_signal_join_refusals_total", code="63") == 1
        assert m.value("tkroom_signal_request_errors_total", code="103") == 1
        # messages by request name; deliveries grew by at least the chats to both members
        assert m.value("tkroom_signal_messages_total", request="sendMessage") == 3
        assert m.value("tkroom_signal_messages_total", request="joinRoom") == 3
        assert m.value("tkroom_signal_messages_total", request="unknown") == 1
        assert (m.value("tkroom_signal_deliveries_total")
                - mid.value("tkroom_signal_deliveries_total")) >= 3 * 2
        assert m.value("tkroom_signal_sockets") == 3
        # the Web API by method and result, with latencies
        assert m.value("tkroom_webapi_requests_total", method="WebAPI/roomcreate", result="0") == 1
        assert m.value("tkroom_webapi_requests_total", method="WebAPI/roomcreate",
                       result=str(bad_code)) == 1
        assert m.value("tkroom_webapi_requests_total", method="ClientAPI/checkroom",
                       result="0") == 2
        assert m.value("tkroom_webapi_requests_total", method="unknown", result="4105") == 1
        assert m.value("tkroom_webapi_request_seconds_count", method="ClientAPI/checkroom") == 2
        assert m.value("tkroom_webapi_request_seconds_sum", method="ClientAPI/checkroom") > 0
        # a client cannot make up label values
        assert not any("no-such" in v or "<script>" in v for v in m.label_values("method"))
        assert not any("no-such" in v for v in m.label_values("request"))
        assert not any(serial in line for line in m.text.splitlines() if "{" in line)
        assert m.value("tkroom_webhook_backlog") == 0
        assert m.value("tkroom_conversion_backlog", status="converting") == 0

        # the database-backed gauges: a callback nobody answers, a document being converted
        # (by a worker of this node that is alive: its heartbeat is recent)
        companyid = await _company_id(node, key)
        await node.webhooks.enqueue(companyid, f"http://127.0.0.1:{free_port()}/cb", {"a": 1})
        async with node.sessions() as s:
            s.add(File(companyid=companyid, filename="a.pdf", size=1, path="/nowhere/a.pdf",
                       token="t" * 16, filetype="pdf", uploadtime=0, conversion=True,
                       status=CONVERTING, node=node.api.node_id, worker="other:1",
                       heartbeat=time.time() + 3600, progress=0))
            await s.commit()
        probed = await _until("the backlogs counted", lambda: _backlogs(node))
        assert probed.value("tkroom_webhook_backlog") == 1
        assert probed.value("tkroom_conversion_backlog", status="converting") == 1
        assert probed.value("tkroom_conversion_backlog", status="queued") == 0

        # everyone left: the gauges come down, the counters stay
        after = await _until("members gone", lambda: _members_gone(node))
        assert after.value("tkroom_rooms") == 0
        assert after.value("tkroom_signal_joins_total", role="student") == 1


async def _company_id(node: Node, key: str) -> int:
    async with node.sessions() as s:
        return (await s.execute(select(Company.id).where(Company.authkey == key))).scalar_one()


async def _backlogs(node: Node) -> Scrape | None:
    s = await _scrape(node)   # probes run at most once a second: poll
    return s if s.value("tkroom_conversion_backlog", status="converting") == 1 else None


async def _members_gone(node: Node) -> Scrape | None:
    s = await _scrape(node)
    return s if s.value("tkroom_members", role="student") == 0 else None


async def test_metrics_can_be_turned_off(tmp_path):
    async with _node(_settings(tmp_path, metrics=False)) as node:
        assert (await _get(node, "/metrics")).status_code == 404
        assert (await _get(node, "/readyz")).status_code == 200


async def test_a_stopping_node_turns_not_ready_then_tells_its_clients_to_reconnect(tmp_path):
    node = build_node(_settings(tmp_path, drain_s=120.0), state=MemoryState(), media=False,
                      web=False, sweep_interval=0.05)
    await node.start()
    stopping: asyncio.Task[None] | None = None
    try:
        _, serial = await _enterprise_room(node)
        t = await _ticket(node, serial, "stud1", "Amy")
        client = await Client.connect(f"ws://127.0.0.1:{node.settings.signal_port}/")
        await client.join(t)
        assert (await _get(node, "/readyz")).status_code == 200
        stopping = asyncio.create_task(node.stop())
        # first not ready, while everything still works: load balancers take the node out
        r = await _until("not ready", lambda: _ready_is(node, 503))
        assert r["draining"] is True and r["ready"] is False
        assert r["checks"]["database"]["ok"] is True    # healthy, but leaving
        assert (await _get(node, "/healthz")).status_code == 200
        await client.ok("sendMessage", {"message": "still here", "toID": "__all"})
        assert not client.named("forceReconnect")
        # then (the drain period over, cut short here) the clients are told to go
        node.end_drain()
        await client.event("forceReconnect", wait=30, reason="node stopping")
        r = await _get(node, "/readyz")   # HTTP answers until the sockets have gone
        assert r.status_code == 503 and r.json()["draining"] is True
        m = await _scrape(node)
        assert m.value("tkroom_signal_force_reconnects_total") == 1
        assert not stopping.done()
        await client.close()              # the client leaves: the node goes on stopping
        await asyncio.wait_for(stopping, 60)
        with pytest.raises(httpx.ConnectError):
            await _get(node, "/healthz")
    finally:
        node.end_drain()
        if stopping is None:
            await node.stop()
        elif not stopping.done():
            await asyncio.wait_for(stopping, 60)


async def test_readyz_and_metrics_show_each_media_server(tmp_path):
    """An external Janus that does not answer makes the node not ready (it has no other);
    the embedded one, when installed, is healthy and counted up."""
    dead = f"ws://127.0.0.1:{free_port()}/janus"
    node = build_node(_settings(tmp_path, janus_urls=[dead]), media=True, web=False,
                      courseware=False, sweep_interval=0.05)
    await node.start()
    try:
        down = await _until("not ready", lambda: _ready_is(node, 503))
        name = static_name(dead)
        assert down["checks"]["media"] == {
            "ok": False, "servers": {name: {"healthy": False, "load": 0, "capacity": 500}}}
        assert "converters" not in down["checks"]
        m = await _scrape(node)
        assert m.value("tkroom_media_server_up", server=name) == 0
        assert m.value("tkroom_media_server_capacity", server=name) == 500
        assert m.value("tkroom_recordings_active") == 0
        assert dead not in m.text            # the URL is the operator's, never shown
    finally:
        await node.stop()


@pytest.mark.media
async def test_the_embedded_janus_is_ready_and_up(tmp_path):
    from tkroom.media.janus_process import janus_available

    if not janus_available():
        from conftest import need_binary

        need_binary("janus")
    node = build_node(_settings(tmp_path), media=True, web=False, courseware=False,
                      sweep_interval=0.05)
    await node.start()
    try:
        ok = await _until("ready", lambda: _ready_is(node, 200))
        assert ok["checks"]["media"]["servers"]["embedded"]["healthy"] is True
        m = await _scrape(node)
        assert m.value("tkroom_media_server_up", server="embedded") == 1
        assert m.value("tkroom_media_publishers", server="embedded") == 0
    finally:
        await node.stop()
