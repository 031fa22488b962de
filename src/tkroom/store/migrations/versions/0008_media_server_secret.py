"""media_servers.apisecret: the Janus API secret a node uses to talk to a registered server;
media_servers.companyid may be NULL: a server the operator registered (``tkroom admin server``)
carries every enterprise's classes

Revision ID: 0008
Revises: 0005 (on this branch; 0007 once merged after 0006 and 0007)
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("media_servers", sa.Column("apisecret", sa.String(length=200), nullable=False,
                                             server_default=""))
    with op.batch_alter_table("media_servers") as batch_op:
        batch_op.alter_column("companyid", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM media_servers WHERE companyid IS NULL")
    with op.batch_alter_table("media_servers") as batch_op:
        batch_op.alter_column("companyid", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("apisecret")
