"""Who gets which live message: only their tenant's, only what is theirs; bounded queues."""

import asyncio
import json

import pytest

from helpline_workspace.events import (
    PRESENCE_CHANGED,
    RESYNC,
    Hub,
    Message,
    StreamEvent,
    TooManyListeners,
    decode,
)

ASSIGNED = "helpline.ticket.assigned.v1"
OFFERED = "helpline.ticket.offered.v1"
MESSAGE_ADDED = "helpline.ticket.message_added.v1"


def event(
    event_type: str, tenant: str = "acme", ticket: str = "t-1", **data: object
) -> StreamEvent:
    return StreamEvent(
        event_type, tenant, ticket, {"tenant_id": tenant, "ticket_id": ticket, **data}
    )


def test_an_assignment_reaches_only_its_agent_in_its_tenant() -> None:
    hub = Hub(queue_size=10, max_listeners=10)
    ana = hub.listen("acme", "usr-ana", "agent-ana")
    bob = hub.listen("acme", "usr-bob", "agent-bob")
    twin = hub.listen("globex", "usr-ana", "agent-ana")  # same ids, another tenant
    nobody = hub.listen("acme", "usr-lead", None)

    assert hub.publish(event(ASSIGNED, agent_id="agent-ana")) == 1
    assert ana.take() == [Message("work", {"kind": "assigned", "ticket_id": "t-1"})]
    assert bob.take() == twin.take() == nobody.take() == []


def test_an_offer_and_its_end_reach_the_agent_it_was_made_to() -> None:
    hub = Hub(queue_size=10, max_listeners=10)
    ana = hub.listen("acme", "usr-ana", "agent-ana")
    hub.publish(event(OFFERED, agent_id="agent-ana", offer_id="o-1"))
    hub.publish(event("helpline.ticket.offer_expired.v1", agent_id="agent-ana", offer_id="o-1"))
    hub.publish(event(OFFERED, agent_id="agent-bob", offer_id="o-2"))
    assert [(m.event, m.data["kind"]) for m in ana.take()] == [
        ("work", "offered"),
        ("work", "offer_closed"),
    ]


def test_presence_changes_reach_every_page_of_their_person_only() -> None:
    hub = Hub(queue_size=10, max_listeners=10)
    work = hub.listen("acme", "usr-ana", "agent-ana")
    ticket_page = hub.listen("acme", "usr-ana", "agent-ana", "t-9")
    bob = hub.listen("acme", "usr-bob", "agent-bob")
    hub.publish(
        event(
            PRESENCE_CHANGED,
            ticket="agent-ana",
            agent_id="agent-ana",
            user_id="usr-ana",
            presence="away",
            previous="available",
            reason="idle",
        )
    )
    expected = Message("presence", {"presence": "away", "previous": "available", "reason": "idle"})
    assert work.take() == ticket_page.take() == [expected]
    assert bob.take() == []


def test_viewers_of_a_ticket_hear_of_its_changes_but_not_of_their_own() -> None:
    hub = Hub(queue_size=10, max_listeners=10)
    ana = hub.listen("acme", "usr-ana", None, "t-1")
    bob = hub.listen("acme", "usr-bob", None, "t-1")
    elsewhere = hub.listen("acme", "usr-cy", None, "t-2")
    hub.publish(event(MESSAGE_ADDED, actor={"type": "user", "id": "usr-ana"}))
    assert ana.take() == [] and elsewhere.take() == []
    assert bob.take() == [
        Message("ticket", {"ticket_id": "t-1", "text": "A new message was added"})
    ]
    hub.publish(event(MESSAGE_ADDED, tenant="globex"))
    assert bob.take() == []


def test_a_slow_connection_keeps_only_the_newest_messages_and_is_told_to_resync() -> None:
    hub = Hub(queue_size=3, max_listeners=10)
    ana = hub.listen("acme", "usr-ana", "agent-ana")
    for number in range(5):
        hub.publish(event(ASSIGNED, ticket=f"t-{number}", agent_id="agent-ana"))
    taken = ana.take()
    assert taken[0] == RESYNC
    assert [m.data["ticket_id"] for m in taken[1:]] == ["t-2", "t-3", "t-4"]
    assert ana.take() == []


def test_connections_are_capped_and_closed_ones_forgotten() -> None:
    hub = Hub(queue_size=3, max_listeners=2)
    first = hub.listen("acme", "usr-ana", None)
    hub.listen("acme", "usr-bob", None)
    with pytest.raises(TooManyListeners):
        hub.listen("acme", "usr-cy", None)
    hub.leave(first)
    hub.leave(first)
    assert len(hub) == 1
    hub.listen("acme", "usr-cy", None)


def test_waiting_returns_queued_messages_or_nothing_after_the_timeout() -> None:
    async def scenario() -> tuple[list[Message], list[Message]]:
        hub = Hub(queue_size=3, max_listeners=2)
        ana = hub.listen("acme", "usr-ana", "agent-ana")
        idle = await ana.wait(0)
        hub.publish(event(ASSIGNED, agent_id="agent-ana"))
        return idle, await ana.wait(0)

    idle, woken = asyncio.run(scenario())
    assert idle == [] and [m.event for m in woken] == ["work"]


def test_records_are_read_loosely_and_garbage_is_skipped() -> None:
    headers = [("ce_type", b"helpline.agent.presence_changed.v1"), ("ce_tenantid", b"acme")]
    found = decode(headers, json.dumps({"agent_id": "a-1", "ticket_id": "a-1"}).encode())
    assert found == StreamEvent(
        PRESENCE_CHANGED, "acme", "a-1", {"agent_id": "a-1", "ticket_id": "a-1"}
    )
    assert decode(headers, b"not json") is None
    assert decode(headers, b"[1]") is None
    assert decode([("ce_type", b"x")], b"{}") is None  # no tenant
    assert Message("work", {"a": 1}).encode() == 'event: work\ndata: {"a": 1}\n\n'


def test_a_type_no_live_page_reads_is_skipped_without_parsing_its_data() -> None:
    headers = [("ce_type", b"helpline.sla.clock_started.v1"), ("ce_tenantid", b"acme")]
    assert decode(headers, json.dumps({"ticket_id": "t-1", "tenant_id": "acme"}).encode()) is None
