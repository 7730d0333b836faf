"""Alembic environment of routing's database."""

from alembic import context

from helpline_routing.adapters.orm import metadata
from helpline_shared.runtime.db import inbox_table, outbox_table
from helpline_shared.runtime.migrations import run_env

outbox_table(metadata)
inbox_table(metadata)
run_env(context, metadata)
