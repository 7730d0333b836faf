"""Events become read-model updates and pending deliveries, once, in the consumer's transaction."""

import json
from datetime import timedelta

from notify_testkit import (
    OTHER_TENANT,
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    ledger,
    new_ticket_id,
    notify_of,
    sla_breached,
    ticket_assigned,
    ticket_created,
)
from opentelemetry.sdk.trace import TracerProvider

from helpline_notify.service_layer import endpoints
from helpline_shared.envelope import Envelope
from helpline_shared.events import SlaClockStarted
from helpline_shared.ticket_token import ticket_token

ESCALATIONS = "escalations@example.com"


async def add_endpoint(
    unit_of_work: UnitOfWorkFactory,
    tenant_id: str,
    event_types: tuple[str, ...] = ("*",),
    enabled: bool = True,
) -> str:
    endpoint = await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id=tenant_id,
            url="https://hooks.example.com/in",
            event_types=event_types,
            allow_private_networks=False,
        ),
        unit_of_work(),
    )
    if not enabled:
        async with unit_of_work() as uow:
            await uow.endpoints.disable(endpoint.id)
            await uow.commit()
    return endpoint.id


async def handle(unit_of_work: UnitOfWorkFactory, *envelopes: Envelope) -> None:
    for envelope in envelopes:
        await notify_of(envelope, unit_of_work, ESCALATIONS)


async def test_assignment_emails_the_agent_and_calls_each_subscribed_endpoint(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    everything = await add_endpoint(unit_of_work, TENANT)
    assignments = await add_endpoint(unit_of_work, TENANT, ("helpline.ticket.assigned.v1",))
    await add_endpoint(unit_of_work, TENANT, ("helpline.sla.breached.v1",))
    disabled = await add_endpoint(unit_of_work, TENANT, enabled=False)
    await add_endpoint(unit_of_work, OTHER_TENANT)
    assigned = envelope_of(ticket_assigned(ticket_id))

    await handle(unit_of_work, envelope_of(ticket_created(ticket_id)), assigned)

    caused = [d for d in await ledger(unit_of_work, ticket_id) if d.trigger_event_id == assigned.id]
    deliveries = [d for d in caused if d.status != "suppressed"]
    assert sorted((d.channel, d.destination) for d in deliveries) == sorted(
        [
            ("email", "ann@example.com"),
            ("webhook", everything),
            ("webhook", assignments),
        ]
    )
    assert [d.destination for d in caused if d.status == "suppressed"] == [disabled]
    email = next(d for d in deliveries if d.channel == "email")
    assert email.subject == f"{ticket_token(ticket_id)} Assigned to you: Printer on fire"
    assert "best printers skill" in email.payload
    assert all(d.status == "pending" and d.attempts == 0 for d in deliveries)


async def test_redelivered_event_creates_nothing_twice(unit_of_work: UnitOfWorkFactory) -> None:
    ticket_id = new_ticket_id()
    await add_endpoint(unit_of_work, TENANT)
    assigned = envelope_of(ticket_assigned(ticket_id))

    await handle(unit_of_work, assigned, assigned)
    async with unit_of_work() as uow:
        # Even past the inbox (a replay after inbox pruning), the ledger's key holds.
        await uow.session.execute(uow._inbox_table.delete())
        await uow.commit()
    await handle(unit_of_work, assigned)

    assert len(await ledger(unit_of_work, ticket_id)) == 2


async def test_breach_emails_the_assignee_when_known(unit_of_work: UnitOfWorkFactory) -> None:
    ticket_id = new_ticket_id()
    await handle(unit_of_work, envelope_of(ticket_assigned(ticket_id)))
    breach = envelope_of(sla_breached(ticket_id))
    await handle(unit_of_work, breach)

    deliveries = [
        d for d in await ledger(unit_of_work, ticket_id) if d.trigger_event_id == breach.id
    ]
    assert [(d.channel, d.destination) for d in deliveries] == [("email", "ann@example.com")]
    assert deliveries[0].subject is not None
    assert "SLA breached (first response)" in deliveries[0].subject


async def test_breach_of_an_unassigned_ticket_goes_to_the_escalation_address(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    endpoint_id = await add_endpoint(unit_of_work, TENANT, ("helpline.sla.breached.v1",))
    await handle(unit_of_work, envelope_of(sla_breached(ticket_id)))

    assert sorted((d.channel, d.destination) for d in await ledger(unit_of_work, ticket_id)) == [
        ("email", ESCALATIONS),
        ("webhook", endpoint_id),
    ]


async def test_read_model_survives_assignment_arriving_before_creation(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    await handle(
        unit_of_work,
        envelope_of(ticket_assigned(ticket_id)),
        envelope_of(ticket_created(ticket_id)),
    )
    async with unit_of_work() as uow:
        view = await uow.tickets.get(TENANT, ticket_id)
        assert await uow.tickets.get(OTHER_TENANT, ticket_id) is None
    assert view is not None
    assert (view.subject, view.assignee_email) == ("Printer on fire", "ann@example.com")


async def test_events_nobody_subscribed_to_write_no_delivery(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    await add_endpoint(unit_of_work, TENANT, ("helpline.ticket.assigned.v1",))
    created = ticket_created(ticket_id)
    started = SlaClockStarted(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=created.occurred_at,
        metric="first_response",
        target_seconds=3600,
        started_at=created.occurred_at,
        deadline=created.occurred_at + timedelta(hours=1),
        clock_version=1,
        reason="policy",
    )
    await handle(unit_of_work, envelope_of(started))
    assert await ledger(unit_of_work, ticket_id) == []


async def test_delivery_keeps_the_consumer_trace_context(unit_of_work: UnitOfWorkFactory) -> None:
    ticket_id = new_ticket_id()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("consume") as span:
        await handle(unit_of_work, envelope_of(ticket_assigned(ticket_id)))
        trace_id = format(span.get_span_context().trace_id, "032x")

    [delivery] = await ledger(unit_of_work, ticket_id)
    assert delivery.trace_headers["traceparent"].split("-")[1] == trace_id


async def test_an_endpoint_without_personal_data_gets_names_and_addresses_as_null(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    private = await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id=TENANT,
            url="https://hooks.example.com/private",
            event_types=("*",),
            allow_private_networks=False,
            personal_data=False,
        ),
        unit_of_work(),
    )
    full = await add_endpoint(unit_of_work, TENANT)

    await handle(unit_of_work, envelope_of(ticket_created(ticket_id)))

    bodies = {
        d.destination: json.loads(d.payload)
        for d in await ledger(unit_of_work, ticket_id)
        if d.channel == "webhook"
    }
    assert bodies[full]["data"]["requester"]["email"] == "carol@example.com"
    redacted = bodies[private.id]["data"]
    assert (redacted["requester"], redacted["subject"], redacted["description"]) == (
        None,
        None,
        None,
    )
    assert redacted["ticket_id"] == ticket_id and redacted["priority"] == "high"
