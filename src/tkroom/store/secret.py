"""The cluster's server secret, kept in a shared database.

Every node has a secret in its data folder; nodes that share a PostgreSQL database adopt the
one the first of them stored there, so tickets and login keys are valid on every node.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.store.models import ServerSecret


async def shared_secret(sessions: async_sessionmaker, mine: bytes) -> bytes:
    """The secret in the database, storing ``mine`` there first if there is none yet."""
    async with sessions() as s:
        row = await s.get(ServerSecret, 1)
        if row is not None:
            return bytes.fromhex(row.secret_hex)
        s.add(ServerSecret(id=1, secret_hex=mine.hex()))
        try:
            await s.commit()
            return mine
        except IntegrityError:  # another node stored its secret at the same moment: take that one
            await s.rollback()
    async with sessions() as s:
        row = await s.get(ServerSecret, 1)
        assert row is not None
        return bytes.fromhex(row.secret_hex)
