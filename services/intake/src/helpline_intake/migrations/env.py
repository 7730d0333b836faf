"""Alembic environment of intake's database."""

from alembic import context

from helpline_intake.adapters.orm import metadata
from helpline_shared.runtime.db import inbox_table, outbox_table
from helpline_shared.runtime.migrations import run_env

outbox_table(metadata)
inbox_table(metadata)
run_env(context, metadata)
