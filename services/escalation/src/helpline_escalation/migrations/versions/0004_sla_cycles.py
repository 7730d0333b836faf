"""sla_cycles: every cycle of every clock, for SLA reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 12:30:00.000000

Existing clocks give their current cycle; earlier cycles of restarted clocks were not kept.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import helpline_shared.runtime.db


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_CLOCKS = sa.table(
    'sla_clocks',
    sa.column('tenant_id', sa.String), sa.column('ticket_id', sa.String),
    sa.column('metric', sa.String), sa.column('cycle', sa.Integer),
    sa.column('started_at', helpline_shared.runtime.db.UtcDateTime()),
    sa.column('stopped_at', helpline_shared.runtime.db.UtcDateTime()),
    sa.column('breached_at', helpline_shared.runtime.db.UtcDateTime()),
    sa.column('paused_seconds', sa.Float),
)


def upgrade() -> None:
    """Upgrade schema."""
    cycles = op.create_table('sla_cycles',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('ticket_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('started_at', helpline_shared.runtime.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', helpline_shared.runtime.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('breached_at', helpline_shared.runtime.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('paused_seconds', sa.Float(), server_default='0', nullable=False),
    sa.Column('active_seconds', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'ticket_id', 'metric', 'cycle')
    )
    op.create_index('ix_sla_cycles_stopped', 'sla_cycles',
                    ['tenant_id', 'metric', 'stopped_at', 'breached_at', 'active_seconds'])
    op.create_index('ix_sla_cycles_breached', 'sla_cycles',
                    ['tenant_id', 'metric', 'breached_at'])
    rows = op.get_bind().execute(sa.select(_CLOCKS)).all()
    op.bulk_insert(cycles, [
        {'tenant_id': row.tenant_id, 'ticket_id': row.ticket_id, 'metric': row.metric,
         'cycle': row.cycle, 'started_at': row.started_at, 'stopped_at': row.stopped_at,
         'breached_at': row.breached_at, 'paused_seconds': row.paused_seconds,
         'active_seconds': None if row.stopped_at is None else max(
             (row.stopped_at - row.started_at).total_seconds() - row.paused_seconds, 0.0)}
        for row in rows])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_sla_cycles_breached', table_name='sla_cycles')
    op.drop_index('ix_sla_cycles_stopped', table_name='sla_cycles')
    op.drop_table('sla_cycles')
