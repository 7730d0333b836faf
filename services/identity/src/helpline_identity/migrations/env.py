"""Alembic environment of identity's database."""

from typing import cast

from alembic import context
from alembic.runtime.environment import EnvironmentContext

from helpline_identity.adapters.orm import metadata
from helpline_shared.runtime.db import inbox_table, outbox_table
from helpline_shared.runtime.migrations import run_env

outbox_table(metadata)
inbox_table(metadata)
# ``alembic.context`` is a module proxying the running EnvironmentContext.
run_env(cast(EnvironmentContext, context), metadata)
