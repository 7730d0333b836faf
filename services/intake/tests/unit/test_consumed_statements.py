"""What intake writes per consumed batch: its tickets read in one statement, the changes of every
ticket of the batch written in one statement, the Message-IDs of its sent mail in one; and a
deferred change is never missed by a read of the same transaction, nor lost at the commit."""

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.trace import NoOpTracer
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_intake.adapters.orm import metadata
from helpline_intake.adapters.repository import TicketFilter
from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.domain.model import Ticket
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared import topics
from helpline_shared.events import (
    Event,
    NotificationDelivered,
    Requester,
    SlaClockStarted,
    SlaClockStopped,
    TicketAssigned,
    TicketClassified,
    TicketCreated,
)
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
    sqlite_units_of_work,
)

Factory = Callable[[], IntakeUnitOfWork]
TICKETS = 5


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Factory, AsyncEngine]]:
    async with sqlite_units_of_work(
        tmp_path / "intake.db", MIGRATIONS, metadata, IntakeUnitOfWork
    ) as made:
        yield made


async def opened(unit_of_work: Factory) -> Ticket:
    return await handlers.open_ticket(
        handlers.OpenTicket(
            tenant_id="acme",
            subject="Export fails",
            description="since 4.2",
            requester=Requester(email="cy@example.org"),
            priority="high",
            type="corrective",
            tags=["exports"],
            channel="api",
        ),
        unit_of_work(),
    )


def life(ticket_id: str) -> list[tuple[str, Event]]:
    """What intake follows of one ticket, by topic, as routing, escalation and notify send it."""
    now = utcnow()
    common = {"tenant_id": "acme", "ticket_id": ticket_id, "occurred_at": now}
    deadline = now + timedelta(hours=1)
    return [
        (
            topics.ROUTING,
            TicketClassified(
                **common, rule_id="r1", rule_version=1, priority="high", team="billing"
            ),
        ),
        (
            topics.ROUTING,
            TicketAssigned(
                **common,
                agent_id="agent-1",
                agent_name="Ada",
                agent_email="ada@acme.test",
                channel="api",
                candidates_considered=1,
                reason="only one",
            ),
        ),
        (
            topics.SLA,
            SlaClockStarted(
                **common,
                metric="first_response",
                target_seconds=3600,
                started_at=now,
                deadline=deadline,
                clock_version=1,
                reason="high",
            ),
        ),
        (
            topics.SLA,
            SlaClockStopped(
                **common,
                metric="first_response",
                deadline=deadline,
                stopped_at=now,
                elapsed_seconds=60.0,
                breached=False,
                clock_version=2,
                reason="agent replied",
            ),
        ),
        *(
            (
                topics.NOTIFICATIONS,
                NotificationDelivered(
                    **common,
                    notification_id=f"n-{kind}",
                    channel="email",
                    trigger_event_id=f"e-{kind}",
                    trigger_event_type=TicketCreated.event_type,
                    attempt=1,
                    outbound_message_id=f"<{kind}-{ticket_id}@helpline.test>",
                ),
            )
            for kind in ("ack", "assigned")
        ),
    ]


async def test_a_batch_reads_each_ticket_once_and_writes_its_changes_in_one_statement(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, engine = database
    ids = [(await opened(unit_of_work)).id for _ in range(TICKETS)]
    followed = [item for ticket_id in ids for item in life(ticket_id)]
    records = [
        consumer_record(event, offset=n, topic=topic) for n, (topic, event) in enumerate(followed)
    ]
    producer = RecordingProducer()
    consumer = TableConsumer(
        table=handlers.handler_table(),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "helpline-intake"),
        tracer=NoOpTracer(),
        group="helpline-intake",
    )
    log = StatementLog(engine)
    await consumer.consume(records, FakeKafkaConsumer())

    assert producer.sent == []
    # The poll's one transaction reads its tickets in one statement (not one per ticket, event
    # or topic) ...
    assert log.count("SELECT") == 1
    # ... and writes the changes of all its tickets in one statement (an executemany); the
    # notifications' Message-IDs are remembered in one statement.
    assert log.count("UPDATE tickets") == 1
    assert log.count("INSERT INTO thread_ids") == 1
    async with unit_of_work() as uow:
        for ticket_id in ids:
            ticket = await uow.tickets.get("acme", ticket_id)
            assert ticket is not None
            assert (ticket.team, ticket.assignee_id, ticket.status) == (
                "billing",
                "agent-1",
                "open",
            )
            assert ticket.sla["first_response"]["state"] == "met"
            for kind in ("ack", "assigned"):
                found = await uow.mail.thread_ticket("acme", [f"{kind}-{ticket_id}@helpline.test"])
                assert found == ticket_id


async def test_a_deferred_change_is_seen_by_reads_of_the_same_transaction(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, _ = database
    ticket = await opened(unit_of_work)
    async with unit_of_work() as uow:
        loaded = await uow.tickets.get("acme", ticket.id)
        assert loaded is not None
        loaded.update(now=utcnow(), priority="urgent", tags=["exports", "vip"])
        await uow.tickets.save(loaded)
        again = await uow.tickets.get("acme", ticket.id)
        listed = await uow.tickets.page("acme", limit=10)
        await uow.mail.remember_sent_id("acme", "sent-1@helpline.test", ticket.id)
        threaded = await uow.mail.thread_ticket("acme", ["sent-1@helpline.test"])
        await uow.commit()
    async with unit_of_work() as uow:
        stored = await uow.tickets.get("acme", ticket.id)
        tagged = await uow.tickets.page(
            "acme", limit=10, where=TicketFilter(tag="vip", priority="urgent")
        )

    assert again is not None and (again.priority, again.tags) == ("urgent", ["exports", "vip"])
    assert [(item.id, item.priority) for item in listed] == [(ticket.id, "urgent")]
    assert threaded == ticket.id
    assert stored is not None and (stored.priority, stored.tags) == ("urgent", ["exports", "vip"])
    assert [item.id for item in tagged] == [ticket.id]  # derived columns written too


async def test_an_unchanged_ticket_costs_no_write_and_a_rollback_writes_nothing(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, engine = database
    ticket = await opened(unit_of_work)
    log = StatementLog(engine)
    async with unit_of_work() as uow:
        loaded = await uow.tickets.get("acme", ticket.id)
        assert loaded is not None
        await uow.tickets.save(loaded)
        await uow.commit()
    assert log.count("UPDATE") == 0

    async with unit_of_work() as uow:
        loaded = await uow.tickets.get("acme", ticket.id)
        assert loaded is not None
        loaded.update(now=utcnow(), priority="low")
        await uow.tickets.save(loaded)
        await uow.rollback()
    async with unit_of_work() as uow:
        stored = await uow.tickets.get("acme", ticket.id)
    assert stored is not None and stored.priority == "high"


async def test_a_ticket_read_for_a_batch_is_found_only_for_its_own_tenant(
    database: tuple[Factory, AsyncEngine],
) -> None:
    unit_of_work, engine = database
    ticket = await opened(unit_of_work)
    async with unit_of_work() as uow:
        await uow.tickets.load([ticket.id, "no-such-ticket"])
        log = StatementLog(engine)
        other = await uow.tickets.get("globex", ticket.id)
        own = await uow.tickets.get("acme", ticket.id)

    assert other is None
    assert own is not None and own.id == ticket.id
    assert log.count("SELECT") == 0  # read by ``load``
