"""chat messages keep Unix seconds (they were kept in the protocol's milliseconds)

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# No time in seconds comes near 1e11 (year 5138); every millisecond stamp since 1973 is above it.
MS_FLOOR = 1e11


def upgrade() -> None:
    op.execute(f"UPDATE chat_messages SET ts = ts / 1000.0 WHERE ts > {MS_FLOOR}")


def downgrade() -> None:
    op.execute(f"UPDATE chat_messages SET ts = ts * 1000.0 WHERE ts < {MS_FLOOR}")
