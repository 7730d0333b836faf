"""Roles resolve to the tenant's people; a person's reply is mailed as theirs; mail to the
tenant's people carries a signed Reply-To that only they can use for that ticket."""

from notify_people_kit import (
    BREACHED,
    CUSTOMER,
    ESCALATIONS,
    MAILBOX,
    SECRET,
    created,
    handle,
    mailed,
    person_joined,
    person_left,
    subscribe,
    tenant_named,
)
from notify_testkit import (
    NOW,
    TENANT,
    UnitOfWorkFactory,
    ledger,
    new_ticket_id,
    sla_breached,
    ticket_assigned,
)

from helpline_notify.adapters.smtp import build_message
from helpline_notify.domain.model import Delivery
from helpline_notify.service_layer import directory
from helpline_notify.service_layer.ports import OutboundEmail
from helpline_shared.events import (
    Actor,
    MessageAdded,
    TenantDeleted,
    TicketClassified,
    UserUpdated,
)
from helpline_shared.reply_tokens import address_token, verify_reply_token


def classified(ticket_id: str, team: str) -> TicketClassified:
    """Routing sent the ticket to ``team``."""
    return TicketClassified(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        rule_id="printers",
        rule_version=1,
        priority="high",
        team=team,
    )


def reply(
    ticket_id: str, *, actor: Actor | None, author_role: str = "agent", body: str = "Unplug it."
) -> MessageAdded:
    """A public message on the ticket."""
    return MessageAdded(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        message_id=new_ticket_id(),
        author_role=author_role,  # type: ignore[arg-type]
        author_id=actor.id if actor else None,
        public=True,
        channel="api",
        body=body,
        actor=actor,
    )


async def watch(unit_of_work: UnitOfWorkFactory, ticket_id: str, user_id: str) -> None:
    """``user_id`` watches the ticket (as they would ask themselves)."""
    await directory.add_watcher(
        directory.WatchChange(
            tenant_id=TENANT,
            ticket_id=ticket_id,
            watcher=user_id,
            caller_kind="person",
            caller_role="agent",
            caller_user=user_id,
        ),
        unit_of_work(),
    )


def sent(delivery: Delivery) -> OutboundEmail:
    """The email the worker would hand to the mail server for ``delivery``."""
    return OutboundEmail(
        message_id=delivery.message_id or "",
        to=delivery.destination,
        subject=delivery.subject or "",
        text=delivery.payload,
        html=delivery.html,
        headers={k: v for k, v in (delivery.headers or {}).items() if k != "Message-ID"},
    )


async def test_team_lead_is_the_active_leads_of_the_tickets_team(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await person_joined(unit_of_work, "Lea Lead", "lea@acme.example", "lead", ("printers",))
    await person_joined(
        unit_of_work, "Leo Lead", "leo@acme.example", "lead", ("printers", "billing")
    )
    await person_joined(unit_of_work, "Other Lead", "olga@acme.example", "lead", ("billing",))
    await person_joined(unit_of_work, "Ann Agent", "ann@acme.example", "agent", ("printers",))
    gone = await person_joined(
        unit_of_work, "Gone Lead", "gone@acme.example", "lead", ("printers",)
    )
    await person_left(unit_of_work, gone)
    await subscribe(unit_of_work, BREACHED, "team_lead")
    ticket_id = new_ticket_id()

    await handle(
        unit_of_work, created(ticket_id), classified(ticket_id, "printers"), sla_breached(ticket_id)
    )

    told = mailed(await ledger(unit_of_work, ticket_id), BREACHED)
    assert sorted(told) == ["lea@acme.example", "leo@acme.example"]
    assert all(d.status == "pending" for d in told.values())


async def test_a_team_without_active_leads_falls_back_to_the_escalation_address(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    gone = await person_joined(
        unit_of_work, "Gone Lead", "gone@acme.example", "lead", ("printers",)
    )
    await person_left(unit_of_work, gone)
    await subscribe(unit_of_work, BREACHED, "team_lead")
    ticket_id = new_ticket_id()

    await handle(
        unit_of_work, created(ticket_id), classified(ticket_id, "printers"), sla_breached(ticket_id)
    )

    assert sorted(mailed(await ledger(unit_of_work, ticket_id), BREACHED)) == [ESCALATIONS]


async def test_watchers_hear_of_the_customers_reply_and_a_deactivated_one_does_not(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ann = await person_joined(unit_of_work, "Ann Agent", "ann@example.com")
    wes = await person_joined(unit_of_work, "Wes Watcher", "wes@acme.example")
    gone = await person_joined(unit_of_work, "Gone Watcher", "gone@acme.example")
    ticket_id = new_ticket_id()
    for user_id in (ann, wes, gone):
        await watch(unit_of_work, ticket_id, user_id)
    await person_left(unit_of_work, gone)
    customer = Actor(type="customer", id=CUSTOMER)

    await handle(
        unit_of_work,
        created(ticket_id),
        ticket_assigned(ticket_id),
        reply(ticket_id, actor=customer, author_role="requester", body="Still smoking"),
    )

    told = mailed(await ledger(unit_of_work, ticket_id), "helpline.ticket.message_added.v1")
    assert sorted(told) == ["ann@example.com", "wes@acme.example"], (
        "the assignee and the active watcher, once each; never the customer who wrote it"
    )
    assert "Still smoking" in told["wes@acme.example"].payload


async def test_a_deactivated_assignee_receives_nothing(unit_of_work: UnitOfWorkFactory) -> None:
    ann = await person_joined(unit_of_work, "Ann Agent", "ann@example.com")
    await person_left(unit_of_work, ann)
    ticket_id = new_ticket_id()

    await handle(unit_of_work, created(ticket_id), ticket_assigned(ticket_id))

    assignment = mailed(await ledger(unit_of_work, ticket_id), "helpline.ticket.assigned.v1")
    assert assignment["ann@example.com"].status == "suppressed"
    assert "deactivated" in (assignment["ann@example.com"].last_error or "")


async def test_a_persons_reply_is_mailed_as_theirs_and_automatic_mail_stays_automatic(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await tenant_named(unit_of_work, "Acme Ltd")
    ann = await person_joined(unit_of_work, "Ann Agent", "ann@example.com")
    ticket_id = new_ticket_id()

    await handle(
        unit_of_work,
        created(ticket_id),
        reply(ticket_id, actor=Actor(type="user", id=ann), body="Unplug it."),
        reply(ticket_id, actor=Actor(type="integration", id="key-1"), body="Synced from CRM."),
    )

    deliveries = [d for d in await ledger(unit_of_work, ticket_id) if d.destination == CUSTOMER]
    ack, human, automatic = (
        build_message(sent(d), "Helpline <notifications@helpline.test>") for d in deliveries
    )
    assert "Unplug it." in human.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert human["Auto-Submitted"] is None and human["X-Auto-Response-Suppress"] is None
    assert human["From"].addresses[0].display_name == "Ann Agent via Acme Ltd"
    assert human["From"].addresses[0].addr_spec == MAILBOX
    assert "automatic message" not in human.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert human["Reply-To"] == MAILBOX, "the customer answers the ticket, not the agent"
    assert human["In-Reply-To"] == ack["Message-ID"]
    for robot in (ack, automatic):
        assert robot["Auto-Submitted"] in ("auto-replied", "auto-generated")
        assert robot["From"] == "Helpline <notifications@helpline.test>"
        assert "automatic message" in robot.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_the_loop_cap_holds_back_automatic_mail_but_not_people_or_staff_mail(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ann = await person_joined(unit_of_work, "Ann Agent", "ann@example.com")
    ticket_id = new_ticket_id()

    await handle(
        unit_of_work,
        created(ticket_id),  # the acknowledgement: one mail, the cap
        reply(ticket_id, actor=Actor(type="user", id=ann), body="First answer."),
        reply(ticket_id, actor=Actor(type="user", id=ann), body="Second answer."),
        reply(ticket_id, actor=None, body="Automatic update."),
        ticket_assigned(ticket_id),
        ticket_assigned(ticket_id),
        cap=1,
    )

    deliveries = await ledger(unit_of_work, ticket_id)
    to_customer = [
        (d.status, d.payload.split("\n")[0]) for d in deliveries if d.destination == CUSTOMER
    ][1:]
    assert to_customer == [
        ("pending", "First answer."),
        ("pending", "Second answer."),
        ("suppressed", ""),
    ], "only the automatic reply is capped"
    to_agent = [d.status for d in deliveries if d.destination == "ann@example.com"]
    assert to_agent == ["pending", "pending"], "assignment mail to staff is never capped"


async def test_mail_to_an_agent_carries_a_reply_to_only_they_can_use_for_that_ticket(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ann = await person_joined(unit_of_work, "Ann Agent", "ann@example.com")
    ticket_id = new_ticket_id()

    await handle(
        unit_of_work,
        created(ticket_id),
        ticket_assigned(ticket_id),
        reply(
            ticket_id,
            actor=Actor(type="customer", id=CUSTOMER),
            author_role="requester",
            body="Any news?",
        ),
    )

    deliveries = await ledger(unit_of_work, ticket_id)
    to_agent = [d for d in deliveries if d.destination == "ann@example.com"]
    assert [d.trigger_event_type for d in to_agent] == [
        "helpline.ticket.assigned.v1",
        "helpline.ticket.message_added.v1",
    ]
    for delivery in to_agent:
        reply_to = build_message(sent(delivery), "n@helpline.test")["Reply-To"]
        assert reply_to.startswith("support+") and reply_to.endswith("@acme.example")
        token = address_token(reply_to)
        assert token is not None
        assert verify_reply_token(SECRET, token, TENANT, ticket_id) == ann
        assert verify_reply_token(SECRET, token, TENANT, new_ticket_id()) is None
        assert verify_reply_token("another-secret", token, TENANT, ticket_id) is None
    to_customer = [d for d in deliveries if d.destination == CUSTOMER]
    assert [(d.headers or {}).get("Reply-To") for d in to_customer] == [MAILBOX], (
        "the customer's mail carries the plain mailbox, and their own reply is not echoed"
    )


async def test_a_lead_made_agent_stops_being_team_lead_and_a_deleted_tenant_is_forgotten(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    lea = await person_joined(unit_of_work, "Lea Lead", "lea@acme.example", "lead", ("printers",))
    await subscribe(unit_of_work, BREACHED, "team_lead")
    first, second = new_ticket_id(), new_ticket_id()
    await handle(unit_of_work, created(first), classified(first, "printers"), sla_breached(first))
    await watch(unit_of_work, first, lea)

    await handle(
        unit_of_work,
        UserUpdated(
            tenant_id=TENANT,
            occurred_at=NOW,
            user_id=lea,
            name="Lea Lead",
            email="lea@acme.example",
            role="agent",
            teams=("printers",),
        ),
    )
    await handle(
        unit_of_work, created(second), classified(second, "printers"), sla_breached(second)
    )

    assert sorted(mailed(await ledger(unit_of_work, first), BREACHED)) == ["lea@acme.example"]
    assert sorted(mailed(await ledger(unit_of_work, second), BREACHED)) == [ESCALATIONS]
    await handle(unit_of_work, TenantDeleted(tenant_id=TENANT, occurred_at=NOW))
    async with unit_of_work() as uow:
        assert await uow.directory.person(TENANT, lea) is None
        assert await uow.watchers.of_ticket(TENANT, first) == []
