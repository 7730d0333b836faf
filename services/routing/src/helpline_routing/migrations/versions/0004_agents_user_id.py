"""agents are identity users: user_id, unique per tenant

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:20:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('agents', sa.Column('user_id', sa.String(length=64), nullable=True))
    op.create_index('uq_agents_tenant_user', 'agents', ['tenant_id', 'user_id'], unique=True)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('uq_agents_tenant_user', table_name='agents')
    op.drop_column('agents', 'user_id')
