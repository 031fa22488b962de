"""initial schema

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chat_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=20), nullable=False),
    sa.Column('chattype', sa.Integer(), nullable=False),
    sa.Column('fromid', sa.String(length=100), nullable=False),
    sa.Column('nickname', sa.String(length=200), nullable=False),
    sa.Column('toid', sa.String(length=100), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.create_index('ix_chat_serial_ts', ['serial', 'ts'], unique=False)

    op.create_table('class_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=20), nullable=False),
    sa.Column('classstate', sa.Integer(), nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('class_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_events_serial'), ['serial'], unique=False)

    op.create_table('companies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parentid', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('domain', sa.String(length=100), nullable=False),
    sa.Column('authkey', sa.String(length=64), nullable=False),
    sa.Column('frozen', sa.Boolean(), nullable=False),
    sa.Column('expires', sa.BigInteger(), nullable=True),
    sa.Column('max_rooms', sa.Integer(), nullable=False),
    sa.Column('max_videotype', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['parentid'], ['companies.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('authkey'),
    sa.UniqueConstraint('domain')
    )
    op.create_table('records',
    sa.Column('recordid', sa.String(length=64), nullable=False),
    sa.Column('serial', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starttime', sa.BigInteger(), nullable=False),
    sa.Column('duration_ms', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('userid', sa.String(length=100), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('recordid')
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_records_serial'), ['serial'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('companyid', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', sa.Float(), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_pending', ['done', 'next_at'], unique=False)

    op.create_table('enterprise_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('companyid', sa.Integer(), nullable=False),
    sa.Column('account', sa.String(length=100), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('pwhash', sa.String(length=200), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['companyid'], ['companies.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('companyid', 'account')
    )
    with op.batch_alter_table('enterprise_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enterprise_users_companyid'), ['companyid'], unique=False)

    op.create_table('files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('companyid', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('filetype', sa.String(length=20), nullable=False),
    sa.Column('isopen', sa.Boolean(), nullable=False),
    sa.Column('dynamicppt', sa.Boolean(), nullable=False),
    sa.Column('uploaduserid', sa.String(length=100), nullable=False),
    sa.Column('uploadusername', sa.String(length=200), nullable=False),
    sa.Column('uploadtime', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['companyid'], ['companies.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_files_companyid'), ['companyid'], unique=False)

    op.create_table('media_servers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('companyid', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=300), nullable=False),
    sa.Column('maxusers', sa.Integer(), nullable=False),
    sa.Column('maxsidelineusers', sa.Integer(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['companyid'], ['companies.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('media_servers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_servers_companyid'), ['companyid'], unique=False)

    op.create_table('rooms',
    sa.Column('serial', sa.String(length=20), nullable=False),
    sa.Column('companyid', sa.Integer(), nullable=False),
    sa.Column('roomname', sa.String(length=200), nullable=False),
    sa.Column('roomtype', sa.Integer(), nullable=False),
    sa.Column('starttime', sa.BigInteger(), nullable=False),
    sa.Column('endtime', sa.BigInteger(), nullable=False),
    sa.Column('passwordrequired', sa.Boolean(), nullable=False),
    sa.Column('allowsidelineuser', sa.Boolean(), nullable=False),
    sa.Column('chairmanpwd', sa.String(length=200), nullable=False),
    sa.Column('assistantpwd', sa.String(length=200), nullable=False),
    sa.Column('patrolpwd', sa.String(length=200), nullable=False),
    sa.Column('confuserpwd', sa.String(length=200), nullable=False),
    sa.Column('sidelineuserpwd', sa.String(length=200), nullable=False),
    sa.Column('maxusers', sa.Integer(), nullable=False),
    sa.Column('maxsidelineusers', sa.Integer(), nullable=False),
    sa.Column('maxvideo', sa.Integer(), nullable=False),
    sa.Column('maxaudio', sa.Integer(), nullable=False),
    sa.Column('videotype', sa.Integer(), nullable=False),
    sa.Column('videoframerate', sa.Integer(), nullable=False),
    sa.Column('roomlayout', sa.Integer(), nullable=False),
    sa.Column('autoopenav', sa.Boolean(), nullable=False),
    sa.Column('thirdroomid', sa.String(length=100), nullable=False),
    sa.Column('singlelogin', sa.Boolean(), nullable=False),
    sa.Column('bigroomthreshold', sa.Integer(), nullable=False),
    sa.Column('keepstate', sa.Boolean(), nullable=False),
    sa.Column('registeredonly', sa.Boolean(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('modified', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['companyid'], ['companies.id'], ),
    sa.PrimaryKeyConstraint('serial')
    )
    with op.batch_alter_table('rooms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rooms_companyid'), ['companyid'], unique=False)
        batch_op.create_index(batch_op.f('ix_rooms_thirdroomid'), ['thirdroomid'], unique=False)

    op.create_table('groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=20), nullable=False),
    sa.Column('groupname', sa.String(length=200), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['serial'], ['rooms.serial'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_groups_serial'), ['serial'], unique=False)

    op.create_table('login_keys',
    sa.Column('loginkey', sa.String(length=40), nullable=False),
    sa.Column('serial', sa.String(length=20), nullable=False),
    sa.Column('usertype', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('userid', sa.String(length=100), nullable=False),
    sa.Column('expires', sa.BigInteger(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['serial'], ['rooms.serial'], ),
    sa.PrimaryKeyConstraint('loginkey')
    )
    with op.batch_alter_table('login_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_keys_serial'), ['serial'], unique=False)

    op.create_table('room_files',
    sa.Column('serial', sa.String(length=20), nullable=False),
    sa.Column('fileid', sa.Integer(), nullable=False),
    sa.Column('isdefault', sa.Boolean(), nullable=False),
    sa.Column('sort', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['fileid'], ['files.id'], ),
    sa.ForeignKeyConstraint(['serial'], ['rooms.serial'], ),
    sa.PrimaryKeyConstraint('serial', 'fileid')
    )


def downgrade() -> None:
    op.drop_table('room_files')
    with op.batch_alter_table('login_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_keys_serial'))

    op.drop_table('login_keys')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_groups_serial'))

    op.drop_table('groups')
    with op.batch_alter_table('rooms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rooms_thirdroomid'))
        batch_op.drop_index(batch_op.f('ix_rooms_companyid'))

    op.drop_table('rooms')
    with op.batch_alter_table('media_servers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_servers_companyid'))

    op.drop_table('media_servers')
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_files_companyid'))

    op.drop_table('files')
    with op.batch_alter_table('enterprise_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enterprise_users_companyid'))

    op.drop_table('enterprise_users')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_pending')

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_records_serial'))

    op.drop_table('records')
    op.drop_table('companies')
    with op.batch_alter_table('class_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_class_events_serial'))

    op.drop_table('class_events')
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_chat_serial_ts')

    op.drop_table('chat_messages')
