"""What operators type to pick records: ``--since`` and the dead-letter filters."""

from datetime import UTC, datetime

import pytest
import typer

from helpline_cli.filters import DeadLetterFilter, parse_since
from helpline_cli.records import DeadLetter

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", datetime(2026, 5, 1, 11, 30, tzinfo=UTC)),
        ("24h", datetime(2026, 4, 30, 12, 0, tzinfo=UTC)),
        ("7d", datetime(2026, 4, 24, 12, 0, tzinfo=UTC)),
        ("2026-05-01T08:00:00Z", datetime(2026, 5, 1, 8, 0, tzinfo=UTC)),
        ("2026-05-01T10:00:00+02:00", datetime(2026, 5, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_since_takes_an_age_or_an_instant(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-05-01T08:00:00", "5w"])
def test_since_refuses_what_it_cannot_place(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_since(text, NOW)


def letter(key: bytes, ce_type: str, error: str, at: datetime, offset: int = 0) -> DeadLetter:
    return DeadLetter(
        0,
        offset,
        key,
        b"{}",
        (("ce_type", ce_type.encode()), ("helpline-dlq-error", error.encode())),
        int(at.timestamp() * 1000),
    )


def test_every_given_criterion_must_hold() -> None:
    created = letter(b"T-1", "helpline.ticket.created.v1", "InvalidEventData: bad", NOW)
    old = letter(
        b"T-2", "helpline.ticket.created.v1", "Timeout", datetime(2026, 1, 1, tzinfo=UTC), offset=1
    )
    assert DeadLetterFilter().selects(created)
    assert DeadLetterFilter(types=("helpline.ticket.created.v1",), keys=("T-1",)).selects(created)
    assert not DeadLetterFilter(keys=("T-1",)).selects(old)
    assert not DeadLetterFilter(types=("helpline.ticket.assigned.v1",)).selects(created)
    assert DeadLetterFilter(error="invalideventdata").selects(created)
    assert not DeadLetterFilter(error="invalideventdata").selects(old)
    assert not DeadLetterFilter(since=datetime(2026, 4, 1, tzinfo=UTC)).selects(old)
    assert DeadLetterFilter(positions=("0:1",)).selects(old)
    assert not DeadLetterFilter(positions=("0:1",)).selects(created)
