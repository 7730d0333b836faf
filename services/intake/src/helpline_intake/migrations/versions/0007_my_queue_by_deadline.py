"""an agent's own queue by next deadline has its own index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:50:00.000000

The workspace's My work lists a person's tickets by next SLA deadline (``assignee`` with
``sort=sla``). With only the per-tenant deadline index, the database walked every ticket of the
tenant in deadline order to find the person's few (about 10 ms per list at 10,000 tickets);
this index finds them directly, already in order.
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the index."""
    op.create_index("ix_tickets_tenant_assignee_due", "tickets",
                    ["tenant_id", "assignee_id", "due_order", "created_at", "id"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_tickets_tenant_assignee_due", table_name="tickets")
