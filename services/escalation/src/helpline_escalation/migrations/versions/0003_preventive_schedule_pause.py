"""preventive schedules can be paused

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 07:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import helpline_shared.runtime.db


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('preventive_schedules',
                  sa.Column('paused_at', helpline_shared.runtime.db.UtcDateTime(timezone=True),
                            nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column('preventive_schedules', 'paused_at')
