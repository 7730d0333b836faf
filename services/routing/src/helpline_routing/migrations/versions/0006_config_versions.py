"""agent_pool_versions.config_version: bumped by every change to a tenant's rules or settings

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 19:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('agent_pool_versions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'config_version',
                sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                server_default='0',
                nullable=False,
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('agent_pool_versions', schema=None) as batch_op:
        batch_op.drop_column('config_version')
