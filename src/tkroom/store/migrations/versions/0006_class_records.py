"""class records: each user's entries and exits, closed answer cards, trophies

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("userid", sa.String(length=100), nullable=False),
        sa.Column("nickname", sa.String(length=200), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("clienttype", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("enter_ms", sa.BigInteger(), nullable=True),
        sa.Column("out_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sid"),
    )
    with op.batch_alter_table("login_events") as batch_op:
        batch_op.create_index("ix_login_serial_enter", ["serial", "enter_ms"], unique=False)
    op.create_table(
        "answer_cards",
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("qid", sa.String(length=32), nullable=False),
        sa.Column("question", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("closed_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("serial", "qid"),
    )
    op.create_table(
        "gifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("sender", sa.String(length=100), nullable=False),
        sa.Column("receiver", sa.String(length=100), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gifts") as batch_op:
        batch_op.create_index("ix_gifts_serial_receiver", ["serial", "receiver"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gifts") as batch_op:
        batch_op.drop_index("ix_gifts_serial_receiver")
    op.drop_table("gifts")
    op.drop_table("answer_cards")
    with op.batch_alter_table("login_events") as batch_op:
        batch_op.drop_index("ix_login_serial_enter")
    op.drop_table("login_events")
