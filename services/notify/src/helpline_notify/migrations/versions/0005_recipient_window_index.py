"""an index for the per-address mail cap (tenant, channel, lower(destination), created_at)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_deliveries_recipient_window', 'deliveries',
                    ['tenant_id', 'channel', sa.text('lower(destination)'), 'created_at'],
                    unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_deliveries_recipient_window', table_name='deliveries')
