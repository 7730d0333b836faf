"""The unit of work every service's handlers use: one transaction, its events, its inbox entry."""

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpline_shared.events import Event
from helpline_shared.runtime import outbox
from helpline_shared.runtime.db import utcnow


class SqlUnitOfWork:
    """Wraps one database transaction; events published in it reach the outbox on commit."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        outbox_table: Table,
        inbox_table: Table,
        source: str,
        topic_prefix: str = "",
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._session_factory = session_factory
        self._outbox_table = outbox_table
        self._inbox_table = inbox_table
        self._source = source
        self._topic_prefix = topic_prefix
        self._on_commit = on_commit
        self._pending: list[dict[str, object]] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        """The open session; only inside ``async with``."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._session_factory()
        self._pending = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            await self.session.close()
            self._session = None

    def publish(self, event: Event, *, event_id: str | None = None) -> None:
        """Publish ``event`` if and when this unit of work commits.

        The event is encoded now, so it carries the trace context current at this call.
        """
        self._pending.append(outbox.outbox_row(
            event, source=self._source, event_id=event_id, topic_prefix=self._topic_prefix))

    async def claim_event(self, consumer: str, event_id: str) -> bool:
        """Record that ``consumer`` applies ``event_id`` now; False if it already has."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        result = await self.session.execute(
            insert(self._inbox_table)
            .values(consumer=consumer, event_id=event_id, processed_at=utcnow())
            .on_conflict_do_nothing()
        )
        return bool(getattr(result, "rowcount", 0))

    async def commit(self) -> None:
        """Commit the change and its events together, then wake the relay."""
        await outbox.stage(self.session, self._outbox_table, self._pending)
        self._pending = []
        await self.session.commit()
        self._on_commit()

    async def rollback(self) -> None:
        """Discard the change and the events it would have published."""
        self._pending = []
        await self.session.rollback()
