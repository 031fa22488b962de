"""records: one row per output of a recording (recordtype 0 events, 1 per-user MP4, 8 merged
MP4), its state (0 processing, 1 ready, 2 failed, with the reason), the recording it belongs to
and the files of that recording its token downloads

Revision ID: 0007
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

# Rows from before: a finished file (state 1); 'publisher' files were per user (1), the rest
# merged (8). Their one file is ``path`` itself (files stays empty).
COLUMNS = (
    ("recordtype", sa.Integer(), "8"),
    ("state", sa.Integer(), "1"),
    ("reason", sa.String(length=500), ""),
    ("recording", sa.String(length=64), ""),
    ("files", sa.JSON(), None),
)


def upgrade() -> None:
    for name, kind, default in COLUMNS:
        op.add_column("records", sa.Column(name, kind, nullable=default is None,
                                           server_default=default))
    op.execute("UPDATE records SET recordtype = 1 WHERE kind = 'publisher'")
    with op.batch_alter_table("records") as batch_op:
        batch_op.create_index("ix_records_recording", ["recording"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("records") as batch_op:
        batch_op.drop_index("ix_records_recording")
        for name, _, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
