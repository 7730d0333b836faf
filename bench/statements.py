"""Counting a service's SQL statements per event, shared by the ``*_statements.py`` scripts.

Each script migrates a fresh SQLite file (or, with ``--postgres-port PORT``, a fresh database on
a running PostgreSQL, such as the test or bench cluster) with its service's migrations, feeds
one ticket's typical events through the service's handler table exactly as the runtime does
(batches of 100 per partition, fake Kafka consumer and producer, no broker), and prints what
the engine ran (an executemany counts once: one round trip).
"""

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from opentelemetry.trace import NoOpTracer
from sqlalchemy import MetaData
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, raw_record
from helpline_shared.runtime.uow import SqlUnitOfWork

UnitOfWorkT = TypeVar("UnitOfWorkT", bound=SqlUnitOfWork)
BATCH = 100
"""HELPLINE_CONSUMER_BATCH_SIZE's default."""


class Statements:
    """The kind (first word) of every statement an engine runs, with COMMIT and ROLLBACK."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.kinds: list[str] = []
        sa_event.listen(
            engine.sync_engine,
            "before_cursor_execute",
            lambda *args: self.kinds.append(str(args[2]).split()[0].upper()),
        )
        sa_event.listen(engine.sync_engine, "commit", lambda _c: self.kinds.append("COMMIT"))
        sa_event.listen(engine.sync_engine, "rollback", lambda _c: self.kinds.append("ROLLBACK"))

    def report(self, what: str, per: int, unit: str, kinds: Sequence[str] | None = None) -> None:
        """Print the statements (``kinds``, default all so far) per ``unit``."""
        counted = list(self.kinds if kinds is None else kinds)
        by_kind: dict[str, int] = {}
        for kind in counted:
            by_kind[kind] = by_kind.get(kind, 0) + 1
        print(
            f"{what}: {len(counted)} statements for {per} {unit}"
            f" = {len(counted) / per:.2f} per {unit.rstrip('s')}; by kind: "
            + ", ".join(f"{k} {v / per:.2f}" for k, v in sorted(by_kind.items()))
        )

    def reset(self) -> None:
        """Forget the statements counted so far."""
        self.kinds.clear()


def database_url(path: Path, argv: Sequence[str]) -> str:
    """SQLite at ``path``, or with ``--postgres-port PORT`` in ``argv`` a fresh database there."""
    if "--postgres-port" not in argv:
        return f"sqlite+aiosqlite:///{path}"
    from helpline_devstack.postgres import PostgresServer
    from helpline_devstack.testing import unique_name

    port = int(argv[list(argv).index("--postgres-port") + 1])
    return PostgresServer(path.parent, port=port).create_database(unique_name("statements"))


def arguments(argv: Sequence[str]) -> list[int]:
    """The numeric arguments of a script (those before any ``--`` option)."""
    numbers = []
    for argument in argv[1:]:
        if argument.startswith("--"):
            break
        numbers.append(int(argument))
    return numbers


async def migrated(
    path: Path | str, migrations: Path, metadata: MetaData, kind: type[UnitOfWorkT]
) -> tuple[AsyncEngine, Callable[[], UnitOfWorkT]]:
    """A fresh database at the head of ``migrations`` (a SQLite file at ``path``, or the URL
    ``path``), and its units of work."""
    url = path if isinstance(path, str) else f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, migrations, url)
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def unit_of_work() -> UnitOfWorkT:
        return kind(
            sessions,
            outbox_table=outbox_table(metadata),
            inbox_table=inbox_table(metadata),
            source="/bench",
        )

    return engine, unit_of_work


async def through_table(
    table: HandlerTable[Any], unit_of_work: Callable[[], Any], records: Sequence[Any]
) -> None:
    """Apply ``records`` (``envelope.to_record`` results) as the runtime's consumer does."""
    producer = RecordingProducer()
    consumer = TableConsumer(
        table=table,
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "bench"),
        tracer=NoOpTracer(),
        group="bench",
    )
    raw = [
        raw_record(r.headers, r.value, offset=n, key=r.key, topic=r.topic)
        for n, r in enumerate(records)
    ]
    for start in range(0, len(raw), BATCH):
        await consumer.consume(raw[start : start + BATCH], FakeKafkaConsumer())
    assert not producer.sent, "nothing may be dead-lettered"
