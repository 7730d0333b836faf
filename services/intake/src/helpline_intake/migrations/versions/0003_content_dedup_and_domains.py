"""content-aware mail dedup and verified domains

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 06:20:00

A stored mail is a repeat only when its Message-ID and its content both match; mailbox
addresses must lie in a domain their tenant verified. Domains of existing mailboxes are kept
working: each becomes verified for the tenant whose mailbox in it is oldest.
"""
import hashlib
import secrets
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import helpline_shared.runtime.db
from helpline_intake.service_layer.inbound import fingerprint

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_inbound = sa.table('inbound_messages', sa.column('id', sa.String), sa.column('raw', sa.LargeBinary),
                    sa.column('content_sha256', sa.String))
_mailboxes = sa.table('mailboxes', sa.column('tenant_id', sa.String), sa.column('address', sa.String),
                      sa.column('aliases', sa.JSON), sa.column('created_at', sa.DateTime))


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_sha256', sa.String(length=64), nullable=True))
    connection = op.get_bind()
    for inbound_id, raw in connection.execute(sa.select(_inbound.c.id, _inbound.c.raw)).all():
        connection.execute(_inbound.update().where(_inbound.c.id == inbound_id).values(
            content_sha256=hashlib.sha256(fingerprint(bytes(raw))).hexdigest()))
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.alter_column('content_sha256', existing_type=sa.String(length=64),
                              nullable=False)
        batch_op.drop_constraint('uq_inbound_tenant_dedup', type_='unique')
        batch_op.create_unique_constraint('uq_inbound_tenant_dedup_content',
                                          ['tenant_id', 'dedup_key', 'content_sha256'])

    op.create_table('domains',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=253), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('created_at', helpline_shared.runtime.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('verified_at', helpline_shared.runtime.db.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name', name='uq_domains_tenant_name')
    )
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.create_index('uq_domains_verified_name', ['name'], unique=True,
                              sqlite_where=sa.text("status = 'verified'"),
                              postgresql_where=sa.text("status = 'verified'"))

    domains = sa.table('domains', *[sa.column(name) for name in (
        'id', 'tenant_id', 'name', 'status', 'token', 'created_at', 'verified_at')])
    owners: dict[str, tuple[str, object]] = {}
    rows = connection.execute(sa.select(_mailboxes).order_by(_mailboxes.c.created_at)).all()
    for tenant_id, address, aliases, created_at in rows:
        for item in [address, *(aliases or [])]:
            owners.setdefault(item.rsplit('@', 1)[-1].lower(), (tenant_id, created_at))
    for name, (tenant_id, created_at) in owners.items():
        connection.execute(domains.insert().values(
            id=secrets.token_hex(16), tenant_id=tenant_id, name=name, status='verified',
            token=secrets.token_urlsafe(24), created_at=created_at, verified_at=created_at))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.drop_index('uq_domains_verified_name')
    op.drop_table('domains')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint('uq_inbound_tenant_dedup_content', type_='unique')
        batch_op.create_unique_constraint('uq_inbound_tenant_dedup', ['tenant_id', 'dedup_key'])
        batch_op.drop_column('content_sha256')
