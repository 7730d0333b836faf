"""the mail domains organisations claim, indexed

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 19:00:00.000000

A first contact's organisation is the one claiming its mail domain. The domains lived only in
each organisation's JSON list, so finding it read up to 1,000 organisations per new requester;
this table answers it by index (filled from the lists here, kept by the directory repository).
"""
import json
from typing import Any, Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create the table and fill it from every organisation's domains."""
    claims = op.create_table('organization_domains',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'domain', 'organization_id')
    )
    rows = op.get_bind().execute(sa.text("SELECT id, tenant_id, domains FROM organizations"))
    filled: list[dict[str, Any]] = []
    for organization_id, tenant_id, domains in rows:
        listed = json.loads(domains) if isinstance(domains, str) else domains
        filled.extend(
            {"tenant_id": tenant_id, "domain": domain, "organization_id": organization_id}
            for domain in sorted({str(domain).lower() for domain in listed or ()})
        )
    if filled:
        op.bulk_insert(claims, filled)


def downgrade() -> None:
    """Drop it (the organisations keep their lists)."""
    op.drop_table('organization_domains')
