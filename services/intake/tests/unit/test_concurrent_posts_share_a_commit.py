"""Tickets posted concurrently are opened in one transaction per write turn (one BEGIN and one
COMMIT for the burst), each event still in its own request's trace; a failure in the shared
transaction leaves each ticket to be opened alone, so only its own caller sees its fault."""

import asyncio
import contextvars
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.adapters.orm import metadata
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_intake.domain.model import Ticket
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.group_commit import Call, GroupCommit
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import StatementLog, outbox_events, stand_in_identity

IDENTITY = stand_in_identity()
TICKET = {"subject": "Export fails", "description": "since 4.2", "priority": "high"}
CONCURRENT = 8


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Any, ServiceRuntime]]:
    settings = IntakeSettings(data_dir=tmp_path, **IDENTITY.settings(), smtp_server_enabled=False)
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
    app, runtime = bootstrap(settings, MemoryAttachmentStore())
    yield app, runtime
    await runtime.engine.dispose()


def client(app: Any) -> httpx.AsyncClient:
    key = IDENTITY.api_key("acme", ["tickets:read", "tickets:write"])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://intake",
        headers={"authorization": f"Bearer {key}"},
    )


async def test_concurrent_posts_share_one_transaction_each_in_its_own_trace(
    served: tuple[Any, ServiceRuntime],
) -> None:
    app, runtime = served
    async with client(app) as http:
        await http.post("/v1/tickets", json={**TICKET, "requester": {"email": "warm@c.example"}})
        log = StatementLog(runtime.engine)
        traces = [f"{number + 1:032x}" for number in range(CONCURRENT)]
        answers = await asyncio.gather(
            *(
                http.post(
                    "/v1/tickets",
                    json={**TICKET, "requester": {"email": f"c{number}@c.example"}},
                    headers={"traceparent": f"00-{trace}-{1:016x}-01"},
                )
                for number, trace in enumerate(traces)
            )
        )
    assert [answer.status_code for answer in answers] == [201] * CONCURRENT
    # One transaction per write turn, which the burst shares (one turn, or two if the first
    # took its turn before the others arrived), each of one INSERT per table: the requesters,
    # the tickets, the outbox rows. One transaction per request would be eight, of three each.
    commits = log.count("COMMIT")
    assert commits <= 2
    assert log.count("BEGIN") == commits
    assert log.count("INSERT") == 3 * commits
    created = {
        envelope.event.ticket_id: envelope.extensions["traceparent"].split("-")[1]
        for envelope in await outbox_events(runtime.engine, metadata)
        if isinstance(envelope.event, TicketCreated)
    }
    assert [created[answer.json()["id"]] for answer in answers] == traces


def _command(email: str) -> handlers.OpenTicket:
    return handlers.OpenTicket(
        tenant_id="acme",
        subject="S",
        description="D",
        requester=Requester(email=email),
        priority="normal",
        type="question",
        tags=[],
        channel="api",
    )


class Refused(Exception):
    """A fault of one command."""


async def test_a_fault_in_the_shared_transaction_is_its_own_callers_only(
    served: tuple[Any, ServiceRuntime],
) -> None:
    _app, runtime = served

    def unit_of_work() -> IntakeUnitOfWork:
        return runtime.unit_of_work(IntakeUnitOfWork)

    async def open_unless_refused(
        uow: IntakeUnitOfWork, commands: Sequence[Call[handlers.OpenTicket]]
    ) -> list[Ticket]:
        for command, _context in commands:
            if command.requester.email.startswith("refused"):
                raise Refused(command.requester.email)
        return await handlers.open_tickets(uow, commands)

    async def alone(command: handlers.OpenTicket) -> Ticket:
        async with unit_of_work() as uow:
            (ticket,) = await open_unless_refused(uow, [(command, contextvars.copy_context())])
            await uow.commit()
            return ticket

    openings = GroupCommit(unit_of_work, open_unless_refused, alone)
    emails = ["a@c.example", "refused@c.example", "b@c.example"]
    results = await asyncio.gather(
        *(openings.run(_command(email)) for email in emails), return_exceptions=True
    )
    assert isinstance(results[1], Refused)
    opened = [result for result in results if isinstance(result, Ticket)]
    assert [ticket.requester_email for ticket in opened] == ["a@c.example", "b@c.example"]
    async with unit_of_work().read_only() as uow:
        for ticket in opened:
            assert await uow.tickets.get("acme", ticket.id) is not None
    created = [
        envelope.event
        for envelope in await outbox_events(runtime.engine, metadata)
        if isinstance(envelope.event, TicketCreated)
    ]
    assert sorted(event.ticket_id for event in created) == sorted(t.id for t in opened)

    # Alone in its turn, the fault goes straight to its caller: no second attempt.
    attempts: list[str] = []

    async def refuse(
        uow: IntakeUnitOfWork, commands: Sequence[Call[handlers.OpenTicket]]
    ) -> list[Ticket]:
        attempts.extend(command.requester.email for command, _context in commands)
        raise Refused("every one")

    with pytest.raises(Refused):
        await GroupCommit(unit_of_work, refuse, alone).run(_command("x@c.example"))
    assert attempts == ["x@c.example"]


async def test_a_caller_cancelled_before_its_turn_opens_nothing(
    served: tuple[Any, ServiceRuntime],
) -> None:
    _app, runtime = served

    def unit_of_work() -> IntakeUnitOfWork:
        return runtime.unit_of_work(IntakeUnitOfWork)

    openings = handlers.ticket_openings(unit_of_work)
    async with unit_of_work() as holder:
        await holder.session.connection()  # holds the write turn: the openings queue behind
        first = asyncio.create_task(openings.run(_command("kept@c.example")))
        gone = asyncio.create_task(openings.run(_command("gone@c.example")))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
    kept = await first
    assert gone.cancelled()
    events = [envelope.event for envelope in await outbox_events(runtime.engine, metadata)]
    assert [event.ticket_id for event in events if isinstance(event, TicketCreated)] == [kept.id]


async def test_openings_arriving_during_a_commit_share_the_next_one(
    served: tuple[Any, ServiceRuntime],
) -> None:
    _app, runtime = served

    def unit_of_work() -> IntakeUnitOfWork:
        return runtime.unit_of_work(IntakeUnitOfWork)

    openings = handlers.ticket_openings(unit_of_work)
    log = StatementLog(runtime.engine)
    async with unit_of_work() as holder:
        await holder.session.connection()  # holds the write turn
        first = asyncio.create_task(openings.run(_command("first@c.example")))
        for _ in range(5):
            await asyncio.sleep(0)  # the first took its batch and waits for the turn
        later = [
            asyncio.create_task(openings.run(_command(f"later{number}@c.example")))
            for number in range(3)
        ]
        await asyncio.sleep(0)
    opened = [await first, *[await task for task in later]]
    assert len({ticket.id for ticket in opened}) == 4
    assert log.count("COMMIT") == 2  # the first alone, the three arriving meanwhile together
    assert log.count("INSERT") == 3 * 2
