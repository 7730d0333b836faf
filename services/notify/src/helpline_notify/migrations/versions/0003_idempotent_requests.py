"""idempotent requests of every create route (the shared Idempotency-Key store)

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
    op.create_table('idempotent_requests',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('operation', sa.String(length=128), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('claim_id', sa.String(length=36), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('created_at', helpline_shared.runtime.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'operation', 'key')
    )
    op.create_index('ix_idempotent_requests_created_at', 'idempotent_requests', ['created_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_idempotent_requests_created_at', table_name='idempotent_requests')
    op.drop_table('idempotent_requests')
