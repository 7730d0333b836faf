"""One runtime database for the shared runtime's tests: the outbox and inbox tables, an engine
on them, units of work over it, and the event they consume (fixtures in ``conftest.py``)."""

import collections
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asyncpg.connection import Connection
from asyncpg.prepared_stmt import PreparedStatement
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from helpline_shared.events import Requester, TicketCreated, TicketStatusChanged
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.uow import SqlUnitOfWork

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


@dataclass(frozen=True)
class RuntimeDatabase:
    """A database with the runtime's tables, and units of work on it."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    def unit_of_work(self, **options: Any) -> SqlUnitOfWork:
        """A unit of work on this database (``options``: relay, on_commit, ...)."""
        return SqlUnitOfWork(
            self.sessions, outbox_table=outbox, inbox_table=inbox, source="/t", **options
        )


async def runtime_database(url: str) -> AsyncIterator[RuntimeDatabase]:
    """The runtime's tables created in the database at ``url``; disposed of after."""
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield RuntimeDatabase(engine, async_sessionmaker(engine, expire_on_commit=False))
    await engine.dispose()


def created(ticket_id: str) -> TicketCreated:
    """A ticket.created event of tenant acme."""
    return TicketCreated(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        subject="Printer",
        description="On fire",
        requester=Requester(email="ann@example.com"),
        priority="high",
        type="question",
        channel="api",
    )


def changed(ticket_id: str) -> TicketStatusChanged:
    """A ticket.status_changed event of tenant acme (open -> solved)."""
    return TicketStatusChanged(
        tenant_id="acme",
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status="open",
        status="solved",
    )


class RoundTrips:
    """Every request asyncpg sends and waits for, by what it is."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: collections.Counter[str] = collections.Counter()
        for owner, name, kind in (
            (Connection, "execute", "execute"),  # BEGIN, COMMIT, ROLLBACK, plain SQL
            (Connection, "prepare", "prepare"),
            (Connection, "executemany", "executemany"),
            (PreparedStatement, "fetch", "statement"),
        ):
            monkeypatch.setattr(owner, name, self._counted(getattr(owner, name), kind))

    def _counted(self, method: Callable[..., Any], kind: str) -> Callable[..., Any]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.sent[kind] += 1
            return await method(*args, **kwargs)

        return counted
