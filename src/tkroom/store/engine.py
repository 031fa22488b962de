"""Opening the database (SQLite or PostgreSQL) and bringing its schema up to date.

Migrations run at every start, inside the node, so that an upgrade needs no separate step.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
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


def _upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Apply every pending Alembic migration."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
