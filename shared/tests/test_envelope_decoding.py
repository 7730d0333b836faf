"""Decoding a record's data: one pass by pydantic, as lenient as before with odd encodings."""

import json
from datetime import UTC, datetime

import pytest

from helpline_contracts import envelope as envelope_module
from helpline_shared.envelope import InvalidEventData, from_record, to_record
from helpline_shared.events import Requester, TicketCreated

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


class NotCalled:
    def loads(self, *_args: object) -> object:
        raise AssertionError("json.loads parsed data that pydantic parses itself")


def test_valid_data_is_parsed_and_validated_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    record = to_record(ticket_created(), source="/t", event_id="e-1")
    monkeypatch.setattr(envelope_module, "json", NotCalled())
    assert from_record(record.headers, record.value).event == ticket_created()


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: b"\xef\xbb\xbf" + text.encode(),  # a UTF-8 byte order mark
        lambda text: text.encode("utf-16"),
    ],
)
def test_data_json_loads_accepted_is_still_accepted(encode: object) -> None:
    record = to_record(ticket_created(), source="/t", event_id="e-1")
    value = encode(record.value.decode())  # type: ignore[operator]
    assert from_record(record.headers, value).event == ticket_created()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"{not json", "data is not JSON"),
        (json.dumps({"ticket_id": "t-1"}).encode(), "helpline.ticket.created.v1: "),
        (b"[1]", "helpline.ticket.created.v1: "),
    ],
)
def test_refused_data_says_whether_it_is_not_json_or_not_the_event(
    value: bytes, message: str
) -> None:
    record = to_record(ticket_created(), source="/t", event_id="e-1")
    with pytest.raises(InvalidEventData, match=message):
        from_record(record.headers, value)
