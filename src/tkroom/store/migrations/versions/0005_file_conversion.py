"""files: conversion into pages (status, progress, page count, the node and worker converting)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Files uploaded before: not converted, done (status 1), one page, as getroomfile showed them.
COLUMNS = (
    ("conversion", sa.Boolean(), sa.false()),
    ("status", sa.Integer(), "1"),
    ("statusmsg", sa.String(length=300), ""),
    ("progress", sa.Integer(), "100"),
    ("pagenum", sa.Integer(), "1"),
    ("node", sa.String(length=64), ""),
    ("worker", sa.String(length=64), ""),
    ("heartbeat", sa.Float(), "0"),
    ("attempts", sa.Integer(), "0"),
)


def upgrade() -> None:
    for name, kind, default in COLUMNS:
        op.add_column("files", sa.Column(name, kind, nullable=False, server_default=default))
    with op.batch_alter_table("files") as batch_op:
        batch_op.create_index("ix_files_queue", ["node", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("files") as batch_op:
        batch_op.drop_index("ix_files_queue")
        for name, _, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
