"""The store under the node: restarts, a database that goes away, migrations, webhooks, admin CLI."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tkroom import tickets
from webapi_nodes import (
    Api,
    NodeThread,
    PgServer,
    Receiver,
    Served,
    node_settings,
    tkroom,
    wait_for,
)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_restart_loses_nothing(tmp_path, request, backend):
    args = ["--data", str(tmp_path)]
    if backend == "postgres":
        args += ["--database", request.getfixturevalue("own_pg_url")]
    created = tkroom("admin", "enterprise", "create", "Restart School", "--max-rooms", "5", *args)
    assert created.returncode == 0, created.stderr
    ent = json.loads(created.stdout)
    assert {"companyid", "domain", "authkey"} <= ent.keys()
    key = ent["authkey"]
    now = int(time.time())
    first = Served(*args)
    try:
        r = httpx.post(f"{first.url}/WebAPI/roomcreate", data=dict(
            key=key, roomname="Kept", roomtype=3, starttime=now, endtime=now + 3600, passwordrequired=0,
            chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1")).json()
        serial = r["serial"]
        lk = httpx.post(f"{first.url}/WebAPI/getloginkey",
                        data=dict(key=key, serial=serial, usertype=2, username="S")).json()["loginkey"]
        ticket = httpx.post(f"{first.url}/ClientAPI/checkroom",
                            data=dict(serial=serial, password="teach1", nickname="T")).json()["ticket"]
    finally:
        first.stop()
    second = Served(*args)
    try:
        room = httpx.post(f"{second.url}/WebAPI/getroom", data=dict(key=key, serial=serial)).json()["room"]
        assert room["roomname"] == "Kept"
        again = httpx.post(f"{second.url}/ClientAPI/checkroom",
                           data=dict(serial=serial, password="teach1", nickname="T")).json()
        assert again["roomrole"] == 0
        assert httpx.post(f"{second.url}/ClientAPI/checkroom",
                          data=dict(serial=serial, loginkey=lk, nickname="S")).json()["roomrole"] == 2
    finally:
        second.stop()
    secret = bytes.fromhex((tmp_path / "secret").read_text())
    assert tickets.verify(secret, ticket, time.time()).serial == serial, "the secret survives restarts"


def test_database_stopped_under_the_node_answers_4107(tmp_path):
    pg = PgServer()
    pg.start()
    n = None
    try:
        n = NodeThread(node_settings(tmp_path, pg.url()))
        api = Api(n, n.enterprise())
        serial = api.room()
        assert api("getroom", serial=serial)["result"] == 0
        pg.stop()
        assert api("getroom", serial=serial)["result"] == 4107
        assert api.client("checkroom", serial=serial, password="teach1", nickname="T")["result"] == 4107
        assert api("roomcreate", roomname="x")["result"] == 4107
        pg.start()
        wait_for(lambda: api("getroom", serial=serial)["result"] == 0, 30, 0.5, "the node to reconnect")
    finally:
        if n:
            n.stop()
        pg.cleanup()


def test_migrations_create_exactly_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from tkroom.store.models import Base

    n = NodeThread(node_settings(tmp_path))
    n.stop()
    engine = create_engine(f"sqlite:///{tmp_path / 'tkroom.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def _deliveries(n: NodeThread, url: str | None = None):
    async def rows():
        from sqlalchemy import select

        from tkroom.store.models import WebhookDelivery

        q = select(WebhookDelivery).order_by(WebhookDelivery.id)
        if url:
            q = q.where(WebhookDelivery.url == url)
        async with n.node.sessions() as s:
            return [(r.attempts, r.done, r.failed) for r in (await s.execute(q)).scalars()]

    return n.run(rows())


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_class_state_callbacks_are_retried_until_success(tmp_path, request, backend):
    rx = Receiver(failures=2)
    db = request.getfixturevalue("own_pg_url") if backend == "postgres" else None
    n = NodeThread(node_settings(tmp_path, db, callback_delays_s=(0.3, 0.6, 5.0, 5.0)))
    try:
        api = Api(n, n.enterprise())
        assert api("companyattribute", roomstartcallbackurl=rx.url, roomendcallbackurl=rx.url)["result"] == 0
        serial = api.room()
        t0 = time.monotonic()
        n.run(n.node.directory.class_state(serial, 0, 1700000000.0))
        wait_for(lambda: len(rx.bodies) >= 3, 30, what="three attempts")
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.9, "retries wait the configured delays (0.3 s then 0.6 s)"
        wait_for(lambda: _deliveries(n, rx.url) == [(3, True, False)], 10, what="the delivery to be done")
        b = rx.bodies[0]
        assert b["serial"] == serial and b["time"] == "1700000000" and b["classstate"] == "0" and b["identify"]
        assert rx.bodies[1] == b, "a retry sends the same body"
        n.run(n.node.directory.class_state(serial, 1, 1700000100.0))
        wait_for(lambda: len(rx.bodies) == 4, 30, what="the end callback")
        assert rx.bodies[3]["classstate"] == "1" and rx.bodies[3]["overclasstype"] == "0"
    finally:
        n.stop()
        rx.close()


def test_callbacks_give_up_after_the_last_delay_and_survive_restarts(tmp_path):
    rx = Receiver(failures=10**6)
    settings = node_settings(tmp_path, callback_delays_s=(0.2, 0.2))
    n = NodeThread(settings)
    try:
        api = Api(n, n.enterprise())
        api("companyattribute", roomendcallbackurl=rx.url)
        serial = api.room()
        n.run(n.node.directory.class_state(serial, 1, time.time()))
        wait_for(lambda: _deliveries(n) == [(3, False, True)], 30, what="the delivery to be given up")
        assert len(rx.bodies) == 3
    finally:
        n.stop()
    # a delivery pending at shutdown is sent by the next start
    rx2 = Receiver(failures=0)
    n = NodeThread(node_settings(tmp_path, callback_delays_s=(30.0,)))
    try:
        api = Api(n, n.enterprise())
        api("companyattribute", roomstartcallbackurl=rx2.url)
        serial = api.room()
        rx2.server.shutdown()  # the receiver is down: the first attempt fails
        rx2.server.server_close()
        n.run(n.node.directory.class_state(serial, 0, time.time()))
        wait_for(lambda: any(r[0] == 1 for r in _deliveries(n)), 30, what="a failed first attempt")
    finally:
        n.stop()
    rx3 = Receiver(failures=0)

    async def point_to(url: str) -> None:
        from sqlalchemy import update

        from tkroom.store.models import WebhookDelivery

        async with n.node.sessions() as s:
            await s.execute(update(WebhookDelivery).where(WebhookDelivery.done.is_(False),
                                                          WebhookDelivery.failed.is_(False))
                            .values(url=url, next_at=0))
            await s.commit()

    n = NodeThread(node_settings(tmp_path, callback_delays_s=(30.0,)))
    try:
        n.run(point_to(rx3.url))
        n.run(n.node.webhooks.deliver_due())
        wait_for(lambda: len(rx3.bodies) == 1, 30, what="the resumed delivery")
    finally:
        n.stop()
        rx.close()
        rx3.close()


def test_admin_cli(tmp_path, monkeypatch, capsys):
    env = {"TKROOM_DATA": str(tmp_path)}
    c = tkroom("admin", "enterprise", "create", "Alpha", "--domain", "alpha", "--expires", "2099-12-31", env=env)
    assert c.returncode == 0, c.stderr
    ent = json.loads(c.stdout)
    assert ent["domain"] == "alpha" and len(ent["authkey"]) == 16

    # the rest in-process: the same code, without a Python start-up each time
    from tkroom.cli import main

    monkeypatch.setenv("TKROOM_DATA", str(tmp_path))

    def admin(*args: str) -> tuple[int, object]:
        code = main(["admin", "enterprise", *args])
        out = capsys.readouterr().out
        return code, json.loads(out) if out.strip() else None

    code, second = admin("create", "Beta")
    assert code == 0 and second["authkey"] != ent["authkey"]
    assert admin("create", "Again", "--domain", "alpha")[0] == 1
    assert admin("freeze", "alpha")[1]["frozen"] is True
    monkeypatch.delenv("TKROOM_DATA")
    code, listed = admin("list", "--data", str(tmp_path))
    assert [(e["domain"], e["frozen"]) for e in listed] == [("alpha", True), (second["domain"], False)]
    assert all("authkey" not in e for e in listed)
    monkeypatch.setenv("TKROOM_DATA", str(tmp_path))
    n = NodeThread(node_settings(tmp_path))  # the same data folder
    try:
        api = Api(n, ent)
        assert api("getroomlist")["result"] == 3002
        assert admin("unfreeze", "alpha")[0] == 0
        assert api("getroomlist")["result"] == 4105
    finally:
        n.stop()
    assert admin("freeze", "nobody")[0] == 1


def test_concurrent_writes_all_succeed(api):
    """Many writers at once (SQLite's single writer, PostgreSQL's pool) never answer 4107/5206."""
    import asyncio
    from collections import Counter

    serial = api.room()

    async def main() -> Counter[int]:
        async with httpx.AsyncClient(base_url=api.node.url, timeout=60) as c:
            async def one(i: int) -> int:
                data = {"key": api.key, "serial": serial}
                if i % 3 == 0:
                    r = await c.post("/WebAPI/groupcreate", data={**data, "groupname": f"g{i}"})
                elif i % 3 == 1:
                    r = await c.post("/WebAPI/roommodify", data={**data, "roomname": f"n{i}"})
                else:
                    r = await c.post("/WebAPI/getloginkey", data={**data, "usertype": 2, "username": "x"})
                return r.json()["result"]

            return Counter(await asyncio.gather(*(one(i) for i in range(90))))

    assert asyncio.run(main()) == Counter({0: 90})
    assert len(api("getgrouplist", serial=serial)["grouplist"]) == 30


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_nodes_starting_together_migrate_once(tmp_path, request, backend):
    import asyncio

    from sqlalchemy import text

    from tkroom.store.engine import make_engine, migrate

    url = request.getfixturevalue("own_pg_url") if backend == "postgres" else f"sqlite+aiosqlite:///{tmp_path}/t.db"

    async def main() -> str:
        engines = [make_engine(url) for _ in range(4)]
        try:
            await asyncio.gather(*(migrate(e) for e in engines))
            async with engines[0].connect() as c:
                return (await c.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        finally:
            for e in engines:
                await e.dispose()

    from alembic.script import ScriptDirectory

    from tkroom.store.engine import alembic_config

    assert asyncio.run(main()) == ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.postgres
def test_nodes_sharing_postgresql_share_the_secret(tmp_path, own_pg_url):
    a = NodeThread(node_settings(tmp_path / "a", own_pg_url))
    b = NodeThread(node_settings(tmp_path / "b", own_pg_url))
    try:
        assert (tmp_path / "a" / "secret").read_text() != (tmp_path / "b" / "secret").read_text()
        assert a.node.secret == b.node.secret
        api = Api(a, a.enterprise())
        serial = api.room()
        ticket = api.client("checkroom", serial=serial, password="teach1", nickname="T")["ticket"]
        assert tickets.verify(b.node.secret, ticket, time.time()).role == 0
        on_b = httpx.post(f"{b.url}/ClientAPI/checkroom", data={"serial": serial, "password": "teach1",
                                                                "nickname": "T"}).json()
        assert tickets.verify(a.node.secret, on_b["ticket"], time.time()).serial == serial
    finally:
        a.stop()
        b.stop()
