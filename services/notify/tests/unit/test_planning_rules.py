"""Pure rules: subscription matching and filters, recipients by role, threading headers."""

from dataclasses import replace

import pytest
from notify_testkit import NOW, TENANT, sla_breached, ticket_assigned

from helpline_notify.domain.errors import InvalidSubscription
from helpline_notify.domain.model import TicketView
from helpline_notify.domain.planning import email_targets
from helpline_notify.domain.subscriptions import Filters, Subscription, TicketFacts, matches_any
from helpline_notify.domain.threading import MAX_REFERENCES, references, thread_headers
from helpline_shared.events import MessageAdded, SlaEscalated, TicketOffered

TICKET = TicketView(
    ticket_id="t-1",
    tenant_id=TENANT,
    subject="Printer",
    requester_email="carol@example.com",
    priority="high",
    type="corrective",
    organization_id="org-1",
)


def subscription(**changes: object) -> Subscription:
    base = Subscription(
        id="s",
        tenant_id=TENANT,
        event_types=("helpline.sla.*",),
        channel="email",
        roles=("assignee",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_wildcards_match_event_type_families() -> None:
    assert matches_any(("helpline.sla.*",), "helpline.sla.breached.v1")
    assert matches_any(("*",), "helpline.ticket.created.v1")
    assert not matches_any(("helpline.sla.*",), "helpline.ticket.created.v1")


def test_filters_accept_only_listed_values() -> None:
    urgent_only = Filters(priority=("urgent",))
    assert not urgent_only.accept(TicketFacts(priority="high"))
    assert urgent_only.accept(TicketFacts(priority="urgent", type="question"))
    assert Filters().accept(TicketFacts())


def test_a_subscription_without_recipients_is_refused() -> None:
    with pytest.raises(InvalidSubscription, match="recipients"):
        subscription(roles=())
    with pytest.raises(InvalidSubscription, match="endpoint_ids"):
        subscription(channel="webhook")


def test_tenant_subscriptions_replace_the_defaults_and_fixed_addresses_are_added() -> None:
    mine = subscription(
        event_types=("helpline.ticket.assigned.v1",),
        addresses=("lead@example.com",),
        filters=Filters(priority=("high",)),
    )
    targets = email_targets(
        "helpline.ticket.assigned.v1",
        ticket_assigned("t-1"),
        TICKET,
        [mine],
        escalation_email="esc@example.com",
    )
    assert [(t.label, t.address) for t in targets] == [
        ("assignee", "ann@example.com"),
        ("address", "lead@example.com"),
    ]
    filtered_out = email_targets(
        "helpline.ticket.assigned.v1",
        ticket_assigned("t-1"),
        replace(TICKET, priority="low"),
        [mine],
        escalation_email="esc@example.com",
    )
    assert filtered_out == []


def test_escalation_tells_the_roles_it_names() -> None:
    escalated = SlaEscalated(
        tenant_id=TENANT,
        ticket_id="t-1",
        occurred_at=NOW,
        metric="resolution",
        level=2,
        deadline=NOW,
        notify=("assignee", "team_lead"),
        clock_version=1,
        reason="late",
    )
    targets = email_targets(
        escalated.event_type, escalated, TICKET, [], escalation_email="esc@example.com"
    )
    assert [(t.label, t.address) for t in targets] == [("assignee", "esc@example.com")], (
        "nobody owns the ticket: the assignee and team lead are the escalation address, once"
    )


def test_only_public_agent_replies_by_api_or_mail_reach_the_requester() -> None:
    def reply(**changes: object) -> MessageAdded:
        base = MessageAdded(
            tenant_id=TENANT,
            ticket_id="t-1",
            occurred_at=NOW,
            message_id="m",
            author_role="agent",
            public=True,
            channel="api",
            body="Hi",
        )
        return base.model_copy(update=changes)

    def targets(message: MessageAdded) -> list[str | None]:
        return [
            t.address
            for t in email_targets(
                message.event_type, message, TICKET, [], escalation_email="e@example.com"
            )
        ]

    assert targets(reply()) == ["carol@example.com"]
    assert targets(reply(public=False)) == []
    assert targets(reply(author_role="requester")) == []
    assert targets(reply(channel="email")) == ["carol@example.com"], "replied by signed mail"


def test_breach_without_assignee_goes_to_the_escalation_address() -> None:
    targets = email_targets(
        "helpline.sla.breached.v1",
        sla_breached("t-1"),
        TICKET,
        [],
        escalation_email="esc@example.com",
    )
    assert [t.address for t in targets] == ["esc@example.com"]


def test_replies_chain_to_the_latest_message_and_keep_the_root() -> None:
    thread = tuple(f"<m{i}@x>" for i in range(30))
    headers = thread_headers("<new@x>", thread, acknowledgement=False, reply_to="s@x")
    assert headers["In-Reply-To"] == "<m29@x>"
    kept = references(thread)
    assert len(kept) == MAX_REFERENCES and kept[0] == "<m0@x>" and kept[-1] == "<m29@x>"
    assert headers["Auto-Submitted"] == "auto-generated"
    first = thread_headers("<a@x>", (), acknowledgement=True, reply_to=None)
    assert first == {"Message-ID": "<a@x>", "Auto-Submitted": "auto-replied"}


def test_the_team_filter_uses_the_team_routing_classified_the_ticket_for() -> None:
    tier2 = subscription(
        event_types=("*",), roles=("team_lead",), filters=Filters(team=("tier-2",))
    )
    breach = sla_breached("t-1")
    for team, expected in ((None, []), ("tier-1", []), ("tier-2", ["esc@example.com"])):
        targets = email_targets(
            breach.event_type,
            breach,
            replace(TICKET, team=team),
            [tier2],
            escalation_email="esc@example.com",
        )
        assert [t.address for t in targets] == expected, team


def test_an_offer_is_mailed_to_the_agent_it_is_offered_to() -> None:
    offered = TicketOffered(
        tenant_id=TENANT,
        ticket_id="t-1",
        occurred_at=NOW,
        offer_id="o-1",
        agent_id="agent-bo",
        agent_name="Bo",
        agent_email="bo@example.com",
        channel="api",
        expires_at=NOW,
    )
    targets = email_targets(
        offered.event_type, offered, TICKET, [], escalation_email="esc@example.com"
    )
    assert [t.address for t in targets] == ["bo@example.com"]
