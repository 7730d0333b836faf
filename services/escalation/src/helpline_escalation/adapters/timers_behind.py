"""The SLA timers a transaction schedules, written behind: one INSERT for all of them at commit.

``TimerScheduler`` inserts each timer at once (and learns whether one with that id existed);
an SLA timer's id names its clock's version, which only this transaction can have made (it holds
the clock's row lock, or created the clock), so none can exist and nothing needs learning: the
timers are kept in memory and inserted together, ``ON CONFLICT DO NOTHING`` as each would be.
"""

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_shared.runtime.db import dialect_insert
from helpline_shared.runtime.outbox import trace_headers


@functools.cache
def _insert(dialect: str, table: Table) -> Any:
    return dialect_insert(dialect)(table).on_conflict_do_nothing()


class TimersBehind:
    """Timers scheduled in this transaction, inserted by ``flush`` in one statement."""

    def __init__(
        self,
        session: AsyncSession,
        table: Table,
        on_scheduled: Callable[[datetime], None] | None = None,
    ) -> None:
        self._session = session
        self._table = table
        self._on_scheduled = on_scheduled
        self._kept: dict[str, dict[str, Any]] = {}

    def schedule(
        self, timer_id: str, *, kind: str, due_at: datetime, payload: Mapping[str, Any]
    ) -> None:
        """Schedule a timer (traced: it fires in the trace current now) unless one has its id."""
        self._kept.setdefault(
            timer_id,
            {
                "id": timer_id,
                "kind": kind,
                "due_at": due_at,
                "payload": dict(payload),
                "trace_headers": dict(trace_headers()),
                "fired_at": None,
            },
        )
        if self._on_scheduled is not None:
            self._on_scheduled(due_at)

    def discard(self) -> None:
        """Forget the timers kept so far (the transaction rolled back)."""
        self._kept = {}

    async def flush(self) -> None:
        """Insert the timers kept so far, in one statement."""
        kept, self._kept = list(self._kept.values()), {}
        if kept:
            await self._session.execute(
                _insert(self._session.get_bind().dialect.name, self._table), kept
            )
