"""The Message-IDs of sent mail are written by one statement built once, its compiled forms reused
whatever the number a batch brings (a multi-row VALUES was built and compiled for every batch)."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.runtime.testing import sqlite_units_of_work

Factory = Callable[[], IntakeUnitOfWork]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Factory, AsyncEngine]]:
    async with sqlite_units_of_work(
        tmp_path / "intake.db", MIGRATIONS, metadata, IntakeUnitOfWork
    ) as made:
        yield made


async def test_sent_ids_of_any_batch_size_reuse_their_compiled_statement_and_first_wins(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, engine = database
    compiled: list[Any] = []

    def note(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: Any
    ) -> None:
        if statement.startswith("INSERT INTO thread_ids"):
            compiled.append(context.compiled)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    batches = [["<a@x>"], ["<b@x>", "<c@x>", "<a@x>"], ["<d@x>", "<e@x>"], ["<f@x>"], ["<g@x>"]]
    for batch in batches:
        async with unit_of_work() as uow:
            for number, message_id in enumerate(batch):
                await uow.mail.remember_sent_id("acme", message_id, f"t{len(batch)}-{number}")
            await uow.commit()

    async with unit_of_work() as uow:
        first = await uow.mail.thread_ticket("acme", ["<a@x>"])
        later = await uow.mail.thread_ticket("acme", ["<e@x>"])
        other_tenant = await uow.mail.thread_ticket("globex", ["<a@x>"])

    assert len(compiled) == len(batches)
    # One compiled form for a single row and one for several, each reused.
    assert len({id(statement) for statement in compiled}) == 2
    assert (first, later, other_tenant) == ("t1-0", "t2-1", None)
