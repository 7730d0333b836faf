"""the tenant's people, learnt from identity's events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:30:00.000000

Intake tells an agent's mail from a customer's by the sender's address: it keeps identity's
users (id, address, name, role, active) per tenant.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('people',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'user_id')
    )
    op.create_index('ix_people_tenant_email', 'people', ['tenant_id', 'email'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_people_tenant_email', table_name='people')
    op.drop_table('people')
