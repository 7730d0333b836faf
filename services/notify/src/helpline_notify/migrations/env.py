"""Alembic environment of notify's database."""

from typing import cast

from alembic import context
from alembic.runtime.environment import EnvironmentContext

from helpline_notify.adapters.orm import metadata
from helpline_shared.runtime.db import inbox_table, outbox_table
from helpline_shared.runtime.migrations import run_env

outbox_table(metadata)
inbox_table(metadata)
# ``alembic.context`` is a module proxying the EnvironmentContext that runs this script.
run_env(cast(EnvironmentContext, context), metadata)
