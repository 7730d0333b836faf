"""OIDC sign-in for browsers: where to return, and one-time codes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 12:15:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import helpline_shared.runtime.db


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('oidc_codes',
    sa.Column('code_sha256', sa.String(length=64), nullable=False),
    sa.Column('client_state_sha256', sa.String(length=64), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', helpline_shared.runtime.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code_sha256')
    )
    with op.batch_alter_table('oidc_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('return_to', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('client_state', sa.String(length=128), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('oidc_states', schema=None) as batch_op:
        batch_op.drop_column('client_state')
        batch_op.drop_column('return_to')
    op.drop_table('oidc_codes')
