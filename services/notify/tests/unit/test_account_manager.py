"""``manager`` is the organisation's account manager, as routing's decisions name them (routing
publishes no event for ``PUT /v1/organizations/{id}/account-manager``), resolved to a person."""

from notify_people_kit import (
    BREACHED,
    ESCALATIONS,
    created,
    handle,
    mailed,
    person_joined,
    person_left,
    subscribe,
)
from notify_testkit import NOW, TENANT, UnitOfWorkFactory, ledger, new_ticket_id, sla_breached

from helpline_notify.domain.people import account_manager_in
from helpline_shared.events import RoutingExplanation, TicketOffered, TicketQueued


def queued(ticket_id: str, *preferred: str) -> TicketQueued:
    """Routing's first decision found nobody free, preferring ``preferred``."""
    return TicketQueued(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        reason="no eligible agent",
        priority="high",
        queued_at=NOW,
        explanation=RoutingExplanation(rule_id="r", rule_version=1, preferred_agents=preferred),
    )


def offered(ticket_id: str, agent_id: str, email: str) -> TicketOffered:
    """Routing offered the ticket to ``agent_id`` (publishing their name and address)."""
    return TicketOffered(
        tenant_id=TENANT,
        ticket_id=ticket_id,
        occurred_at=NOW,
        offer_id="o-1",
        agent_id=agent_id,
        agent_name="Mia Manager",
        agent_email=email,
        channel="email",
        expires_at=NOW,
    )


def test_the_manager_is_the_preferred_agent_that_is_not_the_previous_assignee() -> None:
    assert account_manager_in(("agent-mia",), None) == (True, "agent-mia")
    assert account_manager_in(("agent-ann", "agent-mia"), "agent-ann") == (True, "agent-mia")
    assert account_manager_in((), "agent-ann") == (True, None), "nobody preferred: no manager"
    assert account_manager_in(("agent-ann",), "agent-ann") == (False, None), (
        "the previous assignee alone: whether they manage the account too cannot be told"
    )


async def test_manager_resolves_through_the_address_routing_published_for_the_agent(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    mia = await person_joined(unit_of_work, "Mia Manager", "mia@acme.example", "lead")
    await subscribe(unit_of_work, BREACHED, "manager")
    earlier, ticket_id = new_ticket_id(), new_ticket_id()

    await handle(
        unit_of_work,
        offered(earlier, "agent-mia", "MIA@acme.example"),
        created(ticket_id),
        queued(ticket_id, "agent-mia"),
        sla_breached(ticket_id),
    )

    told = mailed(await ledger(unit_of_work, ticket_id), BREACHED)
    assert sorted(told) == ["mia@acme.example"]
    assert "support+" in (told["mia@acme.example"].headers or {})["Reply-To"], (
        f"the manager is {mia}, one of the tenant's people: their mail carries a reply token"
    )


async def test_manager_resolves_by_user_id_and_a_deactivated_one_receives_nothing(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    mia = await person_joined(unit_of_work, "Mia Manager", "mia@acme.example", "lead")
    await subscribe(unit_of_work, BREACHED, "manager")
    first, second = new_ticket_id(), new_ticket_id()

    await handle(unit_of_work, created(first), queued(first, mia), sla_breached(first))
    await person_left(unit_of_work, mia)
    await handle(unit_of_work, created(second), queued(second, mia), sla_breached(second))

    assert sorted(mailed(await ledger(unit_of_work, first), BREACHED)) == ["mia@acme.example"]
    assert sorted(mailed(await ledger(unit_of_work, second), BREACHED)) == [ESCALATIONS]


async def test_without_an_account_manager_the_escalation_address_hears_of_it(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await subscribe(unit_of_work, BREACHED, "manager")
    ticket_id = new_ticket_id()

    await handle(unit_of_work, created(ticket_id), queued(ticket_id), sla_breached(ticket_id))

    assert sorted(mailed(await ledger(unit_of_work, ticket_id), BREACHED)) == [ESCALATIONS]
