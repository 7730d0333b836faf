"""people, teams and tenant names from identity's events; ticket watchers; routing's agents
and the account manager of each ticket's organisation; the files a delivery carries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:30:00.000000

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


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('people',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('teams', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'user_id')
    )
    op.create_index('ix_people_tenant_email', 'people', ['tenant_id', 'email'], unique=False)
    op.create_table('teams',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('team_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('deleted', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'team_id')
    )
    op.create_table('routing_agents',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'agent_id')
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_manager_id', sa.String(length=64), nullable=True))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.JSON(), nullable=True))
    op.create_table('tenants',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('ticket_watchers',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('ticket_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('added_at', helpline_shared.runtime.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'ticket_id', 'user_id')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('ticket_watchers')
    op.drop_table('tenants')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('attachments')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('account_manager_id')
    op.drop_table('routing_agents')
    op.drop_table('teams')
    op.drop_index('ix_people_tenant_email', table_name='people')
    op.drop_table('people')
