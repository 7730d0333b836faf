"""ticket team, next deadline, breach flag and search text, indexed for the workspace's queues

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:30:00.000000

Lists filter by team, by SLA (breached, at risk), by a search text and sort by the next
deadline of a running clock: each is a column kept from the ticket on every save, with an
index per tenant. Existing tickets get their values from their SLA view and requester here;
their team stays unknown until routing classifies them again.

On PostgreSQL with the pg_trgm extension available (contrib), the search text also gets a
trigram index, so a substring search of three or more characters does not read every ticket;
without it (and on SQLite) the search reads the tenant's tickets, a few milliseconds for 10,000.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import helpline_shared.runtime.db
from helpline_intake.adapters.repository import derived_values

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_tickets = sa.table(
    'tickets', sa.column('id', sa.String), sa.column('sla', sa.JSON),
    sa.column('subject', sa.String), sa.column('requester_email', sa.String),
    sa.column('requester_name', sa.String),
    sa.column('next_deadline', helpline_shared.runtime.db.UtcDateTime(timezone=True)),
    sa.column('due_order', helpline_shared.runtime.db.UtcDateTime(timezone=True)),
    sa.column('sla_breached', sa.Boolean), sa.column('search_text', sa.Text))
_INDEXES = {
    'ix_tickets_tenant_team': ['tenant_id', 'team', 'created_at', 'id'],
    'ix_tickets_tenant_assignee': ['tenant_id', 'assignee_id', 'created_at', 'id'],
    'ix_tickets_tenant_due': ['tenant_id', 'due_order', 'created_at', 'id'],
    'ix_tickets_tenant_breached': ['tenant_id', 'sla_breached', 'created_at', 'id'],
}


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column(
            'next_deadline', helpline_shared.runtime.db.UtcDateTime(timezone=True),
            nullable=True))
        batch_op.add_column(sa.Column(
            'due_order', helpline_shared.runtime.db.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_breached', sa.Boolean(),
                                      server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('search_text', sa.Text(), server_default='',
                                      nullable=False))
    connection = op.get_bind()
    rows = connection.execute(sa.select(
        _tickets.c.id, _tickets.c.sla, _tickets.c.subject, _tickets.c.requester_email,
        _tickets.c.requester_name)).all()
    for row in rows:
        connection.execute(_tickets.update().where(_tickets.c.id == row.id).values(
            derived_values(dict(row._mapping))))
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.alter_column('due_order',
                              existing_type=helpline_shared.runtime.db.UtcDateTime(timezone=True),
                              nullable=False)
        for name, columns in _INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    if connection.dialect.name == 'postgresql':
        _index_search_text(connection)


def _index_search_text(connection: sa.Connection) -> None:
    available = connection.scalar(sa.text(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"))
    if not available:
        return
    try:
        # A role that may not create the extension keeps the plain search: not an error.
        with connection.begin_nested():
            connection.execute(sa.text('CREATE EXTENSION IF NOT EXISTS pg_trgm'))
    except sa.exc.DBAPIError:
        return
    op.execute('CREATE INDEX ix_tickets_search_trgm ON tickets USING gin '
               '(search_text gin_trgm_ops)')


def downgrade() -> None:
    """Downgrade schema."""
    op.execute('DROP INDEX IF EXISTS ix_tickets_search_trgm')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for name in _INDEXES:
            batch_op.drop_index(name)
        for column in ('search_text', 'sla_breached', 'due_order', 'next_deadline', 'team'):
            batch_op.drop_column(column)
