"""a version token per tenant's notification settings (subscriptions, endpoints, templates)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 19:30:00.000000

"""
import uuid
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
    versions = op.create_table('tenant_settings',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    # Every tenant with settings gets a version: no row means "nothing ever set".
    tenants = op.get_bind().execute(sa.text(
        'SELECT tenant_id FROM subscriptions UNION SELECT tenant_id FROM webhook_endpoints '
        'UNION SELECT tenant_id FROM templates'
    )).scalars().all()
    if tenants:
        op.bulk_insert(versions, [
            {'tenant_id': tenant_id, 'version': uuid.uuid4().hex} for tenant_id in tenants
        ])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('tenant_settings')
