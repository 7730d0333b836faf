"""What a batch learns of its tickets, written on PostgreSQL in one upsert of arrays per set of
columns learnt: new tickets are inserted, known ones get only the columns learnt."""

from typing import Any

import pytest
from notify_rig import migrated_engine
from sqlalchemy import event
from sqlalchemy.ext.asyncio import async_sessionmaker

from helpline_devstack.postgres import PostgresServer
from helpline_notify.adapters.repository import TicketViewRepository
from helpline_notify.domain.model import TicketView

pytestmark = pytest.mark.integration


async def test_a_batch_of_learnt_tickets_is_one_upsert_per_set_of_columns(
    postgres: PostgresServer,
) -> None:
    async with migrated_engine(postgres) as engine:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            views = TicketViewRepository(session)
            await views.remember("acme", "t-1", {"subject": "Export fails", "priority": "high"})
            await views.flush()

        statements: list[tuple[str, bool]] = []

        def note(_c: Any, _cursor: Any, statement: str, _p: Any, _x: Any, many: bool) -> None:
            statements.append((statement.split()[0], many))

        event.listen(engine.sync_engine, "before_cursor_execute", note)
        async with sessions() as session, session.begin():
            views = TicketViewRepository(session)
            # Assigned: t-1 (known) and t-2 (new); t-3 learns its thread.
            for ticket_id in ("t-1", "t-2"):
                await views.remember(
                    "acme", ticket_id, {"assignee_id": "a-7", "assignee_name": "Ada"}
                )
            await views.remember("acme", "t-3", {"thread": ("<m1@x>", "<m2@x>")})
            await views.flush()
        event.remove(engine.sync_engine, "before_cursor_execute", note)

        assert statements == [("INSERT", False), ("INSERT", False)], statements
        async with sessions() as session:
            views = TicketViewRepository(session)
            seen = {t: await views.get("acme", t) for t in ("t-1", "t-2", "t-3")}
        assert seen == {
            "t-1": TicketView(
                "t-1",
                "acme",
                subject="Export fails",
                priority="high",
                assignee_id="a-7",
                assignee_name="Ada",
            ),
            "t-2": TicketView("t-2", "acme", assignee_id="a-7", assignee_name="Ada"),
            "t-3": TicketView("t-3", "acme", thread=("<m1@x>", "<m2@x>")),
        }
