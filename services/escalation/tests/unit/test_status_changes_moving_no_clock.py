"""A status change that can move no clock reads nothing of its ticket (alone in its batch, it
costs no transaction); one that can still moves its clocks."""

from escalation_support import TENANT, UnitOfWorkFactory, envelope_of, ticket_created
from opentelemetry.trace import NoOpTracer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_escalation.adapters.orm import sla_clocks
from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.domain.policy import DEFAULT_FIRST_RESPONSE_TARGETS
from helpline_escalation.service_layer import handlers, policies
from helpline_shared.events import Event, TicketStatus, TicketStatusChanged, TicketUpdated
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import (
    FakeKafkaConsumer,
    RecordingProducer,
    StatementLog,
    consumer_record,
)


def status(previous: TicketStatus, now: TicketStatus, ticket_id: str = "t-1") -> Event:
    return TicketStatusChanged(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        previous_status=previous,
        status=now,
    )


def pausing_in(*statuses: str) -> PolicyDocument:
    return PolicyDocument.model_validate(
        {
            "name": "Odd",
            "position": 0,
            "calendar": {"name": "24/7", "always_open": True},
            "metrics": {
                "first_response": {"targets": {"high": 3600}, "pause_statuses": list(statuses)}
            },
        }
    )


async def handle(unit_of_work: UnitOfWorkFactory, event: Event) -> None:
    await handlers.on_ticket_event(
        envelope_of(event), unit_of_work(), DEFAULT_FIRST_RESPONSE_TARGETS
    )


async def states(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(sla_clocks.c.ticket_id, sla_clocks.c.state))
        return {row.ticket_id: row.state for row in rows}


async def test_new_to_open_reads_no_clock_and_no_ticket(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await handle(unit_of_work, ticket_created("t-1"))
    log = StatementLog(engine)
    await handle(unit_of_work, status("new", "open"))
    # Was the clocks locked with the ticket's row: one SELECT per status change.
    assert not [s for s in log.statements if "sla_clocks" in s or "sla_tickets" in s]
    assert await states(engine) == {"t-1": "running"}


async def test_a_policy_pausing_in_open_still_pauses_and_resumes(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await policies.put_policy(
        TENANT, "odd", pausing_in("open"), recompute=False, uow=unit_of_work()
    )
    await handle(unit_of_work, ticket_created("t-1"))
    await handle(unit_of_work, status("new", "open"))
    assert await states(engine) == {"t-1": "paused"}
    await handle(unit_of_work, status("open", "new"))
    assert await states(engine) == {"t-1": "running"}


async def test_an_older_version_pausing_in_open_still_counts(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await policies.put_policy(
        TENANT, "odd", pausing_in("open"), recompute=False, uow=unit_of_work()
    )
    await handle(unit_of_work, ticket_created("t-1"))
    await handle(unit_of_work, status("new", "open"))
    # The ticket keeps following version 1; version 2 pauses in nothing the ticket will see.
    await policies.put_policy(TENANT, "odd", pausing_in(), recompute=False, uow=unit_of_work())
    await handle(unit_of_work, status("open", "new"))
    assert await states(engine) == {"t-1": "running"}


async def test_an_update_without_a_new_priority_reads_nothing(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await handle(unit_of_work, ticket_created("t-1"))
    log = StatementLog(engine)
    await handle(
        unit_of_work,
        TicketUpdated(
            tenant_id=TENANT,
            ticket_id="t-1",
            occurred_at=utcnow(),
            changed_fields=("tags",),
            tags=("vip",),
            type="question",
            priority="high",
        ),
    )
    assert not [s for s in log.statements if "sla_clocks" in s or "sla_tickets" in s]


async def consume(unit_of_work: UnitOfWorkFactory, events: list[Event]) -> None:
    """Apply ``events`` as one consumed batch, as the service's consumer does."""
    producer = RecordingProducer()
    await TableConsumer(
        table=handlers.handler_table(DEFAULT_FIRST_RESPONSE_TARGETS, unit_of_work),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(producer, "helpline-escalation"),
        tracer=NoOpTracer(),
        group="helpline-escalation",
    ).consume(
        [consumer_record(event, offset=n) for n, event in enumerate(events)],  # type: ignore[arg-type]
        FakeKafkaConsumer(),
    )
    assert producer.sent == [], "nothing may be dead-lettered"


async def test_a_batch_of_status_changes_moving_nothing_costs_no_transaction(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await consume(unit_of_work, [ticket_created(f"t-{n}") for n in range(3)])
    log = StatementLog(engine)
    await consume(unit_of_work, [status("new", "open", f"t-{n}") for n in range(3)])
    # Was a transaction claiming each event and locking each ticket's clocks: now one read.
    assert log.count("SELECT") == 1
    assert log.count("INSERT") == log.count("COMMIT") == 0


async def test_a_batch_with_one_that_moves_a_clock_applies_it(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await consume(unit_of_work, [ticket_created(f"t-{n}") for n in range(2)])
    await consume(unit_of_work, [status("new", "open", "t-0"), status("new", "pending", "t-1")])
    assert await states(engine) == {"t-0": "running", "t-1": "paused"}
    await policies.put_policy(
        TENANT, "odd", pausing_in("open"), recompute=False, uow=unit_of_work()
    )
    await consume(unit_of_work, [ticket_created("t-2")])
    await consume(unit_of_work, [status("new", "open", "t-2")])
    assert (await states(engine))["t-2"] == "paused"


async def test_a_change_the_fallback_moves_a_clock_on_is_applied_without_a_read_first(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await consume(unit_of_work, [ticket_created("t-0")])
    log = StatementLog(engine)
    await consume(unit_of_work, [status("open", "solved", "t-0")])
    assert log.count("ROLLBACK") == 0  # no read-only transaction before the one applying it
    assert log.count("COMMIT") == 1
    assert await states(engine) == {"t-0": "stopped"}
