"""Opening the database (SQLite or PostgreSQL) and bringing its schema up to date.

Migrations run at every start, inside the node, so that an upgrade needs no separate step.
"""

from __future__ import annotations

import asyncio
import fcntl
from pathlib import Path
from typing import IO

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> AsyncEngine:
    """An async engine; connection failures surface quickly so callers can answer 4107."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 15}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=10,
        hide_parameters=True,  # errors are logged: their SQL parameters may hold keys
        connect_args={"timeout": 5, "command_timeout": 15},
    )


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


MIGRATION_LOCK = 0x746B726F6F6D  # "tkroom": the PostgreSQL advisory lock of the migration


def _upgrade(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":  # nodes starting together migrate one after another
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Apply every pending Alembic migration, one process at a time."""
    lock = None
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if db and db != ":memory:":
        lock = await asyncio.to_thread(_flock, Path(db + ".migrate-lock"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    finally:
        if lock is not None:
            lock.close()  # closing the file releases the lock


def _flock(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "ab")  # noqa: SIM115 - held until the migration is done
    fcntl.flock(f, fcntl.LOCK_EX)
    return f
