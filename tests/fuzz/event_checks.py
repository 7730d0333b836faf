"""Handler fuzzing support: a fresh copy of a migrated SQLite database per example, the outbox
read as raw records, and their validation against the committed event schemas."""

import json
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from jsonschema.validators import validator_for
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_shared.runtime.db import outbox_table
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import units_of_work
from helpline_shared.runtime.uow import SqlUnitOfWork
from helpline_shared.schema_export import committed_schemas

UnitOfWorkT = TypeVar("UnitOfWorkT", bound=SqlUnitOfWork)


def migrated_template(directory: Path, migrations: Path) -> Path:
    """A SQLite file at the head revision, to be copied for each example."""
    path = directory / "template.db"
    upgrade(migrations, f"sqlite+aiosqlite:///{path}")
    return path


@asynccontextmanager
async def fresh_database(
    template: Path, directory: Path, metadata: MetaData, kind: type[UnitOfWorkT]
) -> AsyncIterator[tuple[Callable[[], UnitOfWorkT], AsyncEngine]]:
    """Units of work of ``kind`` on a private copy of ``template`` (cheaper than migrating)."""
    path = directory / f"{uuid.uuid4().hex}.db"
    shutil.copy(template, path)
    try:
        async with units_of_work(f"sqlite+aiosqlite:///{path}", None, metadata, kind) as made:
            yield made
    finally:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Published:
    """One outbox record as it will go to Kafka: CloudEvents id and type, JSON data."""

    event_id: str
    type: str
    data: dict[str, Any]


async def outbox(engine: AsyncEngine, metadata: MetaData, skip: int = 0) -> list[Published]:
    """Every outbox record after the first ``skip``, in publication order."""
    table = outbox_table(metadata)
    async with engine.connect() as connection:
        rows = await connection.execute(select(table).order_by(table.c.id).offset(skip))
        found = []
        for row in rows:
            headers = {name: value for name, value in row.headers}
            found.append(
                Published(headers["ce_id"], headers["ce_type"], json.loads(row.record_value))
            )
        return found


async def outbox_size(engine: AsyncEngine, metadata: MetaData) -> int:
    """How many records the outbox holds."""
    table = outbox_table(metadata)
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


_SCHEMAS = committed_schemas()


def schema_errors(records: list[Published]) -> list[str]:
    """Records whose data breaks the committed JSON Schema of their type (or has none)."""
    errors = []
    for record in records:
        schema = _SCHEMAS.get(record.type)
        if schema is None:
            errors.append(f"{record.type}: no committed schema")
            continue
        validator = validator_for(schema)(schema)
        errors.extend(
            f"{record.type} {record.event_id}: {error.message}"
            for error in validator.iter_errors(record.data)
        )
    return errors
