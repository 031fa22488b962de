"""The conversion queue's rows on SQLite and PostgreSQL: claims by concurrent workers (of one
node, and of two nodes on one database) take every document exactly once, a silent worker's
document is claimed again, and a worker that lost its document changes nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from tkroom.rooms.courseware import CONVERTING, DONE, QUEUED
from tkroom.store.companies import create_company
from tkroom.store.conversions import ConversionRows
from tkroom.store.engine import make_engine, migrate, sessionmaker
from tkroom.store.models import File


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("own_pg_url")
    return f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"


async def _queued(sessions, node: str, n: int) -> list[int]:
    async with sessions() as s:
        c = await create_company(s, "School")
        await s.flush()
        files = [File(companyid=c.id, filename=f"{i}.pdf", size=1, path=f"/x/{i}.pdf", token="t",
                      filetype="pdf", uploadtime=0, conversion=True, status=QUEUED, node=node,
                      progress=0, pagenum=0) for i in range(n)]
        s.add_all(files)
        await s.commit()
        return [f.id for f in files]


async def test_every_document_is_claimed_exactly_once(db_url):
    engines = [make_engine(db_url) for _ in range(2)]  # two processes of one node
    try:
        await migrate(engines[0])
        mine = await _queued(sessionmaker(engines[0]), "n1", 30)
        theirs = await _queued(sessionmaker(engines[0]), "n2", 5)
        workers = [ConversionRows(sessionmaker(engines[i % 2]), "n1", f"w{i}") for i in range(6)]
        claimed: list[tuple[str, int]] = []

        async def drain(rows: ConversionRows) -> None:
            for _ in range(100):
                f = await rows.claim(time.time(), 30)
                if f is None:
                    return
                assert f.status == CONVERTING and f.worker == rows.worker and f.attempts == 1
                claimed.append((rows.worker, f.id))

        await asyncio.gather(*(drain(w) for w in workers))
        assert sorted(fid for _, fid in claimed) == mine, "each once, and only this node's"
        other = ConversionRows(sessionmaker(engines[1]), "n2", "x")
        assert (await other.claim(time.time(), 30)).id == theirs[0]

        # a worker falls silent: its document is claimed again, and the old worker's writes
        # no longer land
        owner = dict((fid, w) for w, fid in claimed)[mine[0]]  # the oldest goes first
        old = next(w for w in workers if w.worker == owner)
        new = next(w for w in workers if w.worker != owner)
        assert await new.claim(time.time(), 30) is None
        late = await new.claim(time.time() + 31, 30)
        assert late is not None and late.id == mine[0] and late.attempts == 2
        assert await old.update(late.id, progress=50) is False
        assert await new.update(late.id, status=DONE, worker="") is True

        # a clean stop puts the worker's documents back, their attempt not counted
        more = await _queued(sessionmaker(engines[0]), "n1", 2)
        stopping = ConversionRows(sessionmaker(engines[1]), "n1", "z")
        assert [(await stopping.claim(time.time(), 30)).id for _ in more] == more
        await stopping.release()
        async with sessionmaker(engines[0])() as s:
            rows = {f.id: f for f in (await s.execute(select(File))).scalars()}
        assert all((rows[i].status, rows[i].worker, rows[i].attempts) == (QUEUED, "", 0) for i in more)
        assert rows[late.id].status == DONE
        assert {rows[i].status for i in mine if i != late.id} == {CONVERTING}, "others' untouched"
    finally:
        for e in engines:
            await e.dispose()


def test_migration_keeps_earlier_files_as_they_were(tmp_path):
    """Files uploaded before conversion existed read as before: done, one page, no pages."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from tkroom.store.engine import alembic_config

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
            conn.execute(text("INSERT INTO companies (id, name, domain, authkey, frozen, max_rooms, "
                              "max_videotype, deleted, created, attributes) "
                              "VALUES (1, 'S', 's', 'k', 0, 0, 4, 0, 0, '{}')"))
            conn.execute(text("INSERT INTO files (id, companyid, filename, size, path, token, filetype, "
                              "isopen, dynamicppt, uploaduserid, uploadusername, uploadtime) "
                              "VALUES (7, 1, 'a.pdf', 3, '/x/a.pdf', 't', 'pdf', 0, 0, '', '', 0)"))
            command.upgrade(cfg, "head")
            row = conn.execute(text("SELECT conversion, status, statusmsg, progress, pagenum, node, "
                                    "worker, heartbeat, attempts FROM files WHERE id = 7")).one()
            assert tuple(row) == (0, DONE, "", 100, 1, "", "", 0, 0)
            command.downgrade(cfg, "0004")
            assert "status" not in {r[1] for r in conn.execute(text("PRAGMA table_info(files)"))}
    finally:
        engine.dispose()


async def test_a_document_cut_off_three_times_fails(tmp_path):
    """A document whose conversion keeps being cut off (its node killed each time) is not
    tried forever: the fourth claim fails it with a reason."""
    from tkroom.courseware import ConversionQueue, QueueSettings
    from tkroom.rooms.courseware import FAILED
    from tkroom.storage import FolderStorage

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    sessions = sessionmaker(engine)
    try:
        await migrate(engine)
        fid, = await _queued(sessions, "n1", 1)
        async with sessions() as s:
            f = await s.get(File, fid)
            f.status, f.attempts, f.heartbeat, f.worker = CONVERTING, 3, 0.0, "n1:dead"
            await s.commit()
        queue = ConversionQueue(sessions, QueueSettings(workdir=tmp_path / "scratch", node="n1",
                                                        workers=1, poll_s=0.05),
                                FolderStorage(tmp_path))
        await queue.start()
        try:
            for _ in range(400):
                async with sessions() as s:
                    f = await s.get(File, fid)
                if f.status == FAILED:
                    break
                await asyncio.sleep(0.05)
        finally:
            await queue.stop()
        assert (f.status, f.statusmsg, f.attempts) == (FAILED, "The conversion was cut off 3 times", 4)
    finally:
        await engine.dispose()
