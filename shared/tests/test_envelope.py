"""CloudEvents binary-mode mapping: what goes on the wire and what is refused."""

import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from helpline_shared.envelope import (
    InvalidEventData,
    NotACloudEvent,
    UnknownEventType,
    derived_event_id,
    from_record,
    to_record,
)
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.topics import TICKETS

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def ticket_created() -> TicketCreated:
    return TicketCreated(
        tenant_id="acme",
        ticket_id="t-1",
        occurred_at=NOW,
        subject="Export fails",
        description="since 4.2",
        requester=Requester(email="cy@example.org"),
        priority="high",
        type="corrective",
        tags=("exports",),
        channel="api",
    )


def test_an_event_becomes_a_binary_mode_cloudevent_keyed_by_ticket() -> None:
    record = to_record(ticket_created(), source="/helpline/intake", event_id="e-1", time=NOW)
    headers = dict(record.headers)
    assert record.topic == TICKETS
    assert record.key == b"t-1"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == b"e-1"
    assert headers["ce_type"] == b"helpline.ticket.created.v1"
    assert headers["ce_subject"] == b"t-1"
    assert headers["ce_tenantid"] == b"acme"
    assert headers["ce_time"] == b"2026-03-29T01:30:00Z"
    assert headers["content-type"] == b"application/json"
    assert json.loads(record.value)["subject"] == "Export fails"


def test_the_cloudevents_sdk_reads_what_we_write() -> None:
    record = to_record(ticket_created(), source="/helpline/intake")
    event = from_binary_event(
        KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    )
    assert event.get_type() == "helpline.ticket.created.v1"
    assert event.get_data()["ticket_id"] == "t-1"
    assert event.get_extension("tenantid") == "acme"


def test_a_record_round_trips() -> None:
    record = to_record(ticket_created(), source="/helpline/intake", event_id="e-1")
    envelope = from_record(record.headers, record.value)
    assert envelope.id == "e-1"
    assert envelope.event == ticket_created()


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda h, v: ([x for x in h if x[0] != "ce_id"], v), NotACloudEvent),
        (
            lambda h, v: ([(n, b"2.0" if n == "ce_specversion" else x) for n, x in h], v),
            NotACloudEvent,
        ),
        (lambda h, v: ([(n, b"x.v9" if n == "ce_type" else x) for n, x in h], v), UnknownEventType),
        (lambda h, v: (h, b"{not json"), InvalidEventData),
        (lambda h, v: (h, b"\xff\xfe"), InvalidEventData),
        (lambda h, v: (h, json.dumps({"ticket_id": "t-1"}).encode()), InvalidEventData),
        (lambda h, v: (h, None), InvalidEventData),
    ],
)
def test_poison_records_are_refused_with_a_named_reason(mutate, error) -> None:  # type: ignore[no-untyped-def]
    record = to_record(ticket_created(), source="/helpline/intake")
    headers, value = mutate(list(record.headers), record.value)
    with pytest.raises(error):
        from_record(headers, value)


def test_derived_event_ids_are_stable_and_distinct() -> None:
    assert derived_event_id("timer", "a") == derived_event_id("timer", "a")
    assert derived_event_id("timer", "a") != derived_event_id("timer", "b")
