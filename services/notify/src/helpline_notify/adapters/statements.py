"""Statements built once, run with bound parameters.

SQLAlchemy computes the cache key of every new statement object before it finds the statement's
compiled form; building the same ``select`` per call (and its key) cost more than running it
(profiled: the largest single cost of notify's SQL). Hot statements are module constants with
``bindparam``s, and the dialect-specific upserts are built once per dialect and column set.
"""

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_shared.runtime.db import dialect_insert

ONE_ROW = select(literal(1).label("one")).subquery("one_row")
"""One row to outer-join a lookup to: the statement answers one row whether it finds or not."""


def dialect_name(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: the database behind ``session``."""
    name: str = session.get_bind().dialect.name
    return name


@functools.cache
def insert_ignoring_conflicts(dialect: str, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table`` (rows given at execution)."""
    return dialect_insert(dialect)(table).on_conflict_do_nothing()


@functools.cache
def _upsert(dialect: str, table: Table, index: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    statement = dialect_insert(dialect)(table)
    return statement.on_conflict_do_update(
        index_elements=list(index),
        set_={column: statement.excluded[column] for column in columns},
    )


def upsert(dialect: str, table: Table, index: Iterable[str], columns: Iterable[str]) -> Any:
    """``INSERT ... ON CONFLICT (index) DO UPDATE SET`` each of ``columns`` to the inserted
    value (the row, ``index`` and ``columns`` included, given at execution)."""
    return _upsert(dialect, table, tuple(index), tuple(sorted(columns)))
