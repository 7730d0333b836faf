"""docs/partners.md: the events table is the generated one, and the consumers are pinned."""

import pytest

from helpline_shared import topics
from helpline_shared.events import EVENT_TYPES
from helpline_shared.partner_docs import (
    BEGIN,
    DOCUMENT_PATH,
    END,
    MarkersMissing,
    events_table,
    with_table,
)


def test_the_committed_events_table_is_the_generated_one() -> None:
    document = DOCUMENT_PATH.read_text()
    assert with_table(document) == document, "run `make asyncapi` and commit docs/partners.md"


def test_a_stale_table_is_replaced_and_the_rest_kept() -> None:
    stale = f"# Guide\n\n{BEGIN}\n| old | table |\n{END}\n\nMore text.\n"
    updated = with_table(stale)
    assert updated != stale
    assert updated == f"# Guide\n\n{BEGIN}\n{events_table()}\n{END}\n\nMore text.\n"


def test_a_document_without_markers_is_refused() -> None:
    with pytest.raises(MarkersMissing):
        with_table("# Guide without a table\n")


def test_every_public_event_type_has_a_row_saying_when_it_is_published() -> None:
    rows = events_table().splitlines()[2:]
    public = [t for t, model in EVENT_TYPES.items() if model.topic in topics.PUBLIC_TOPICS]
    assert len(rows) == len(public)
    for event_type in public:
        [row] = [row for row in rows if row.startswith(f"| `{event_type}` |")]
        assert "| Published by " in row


def test_the_guide_pins_cloudevents_2_and_shows_go_and_java_consumers() -> None:
    document = DOCUMENT_PATH.read_text()
    assert '"cloudevents>=2"' in document
    assert "pip install aiokafka cloudevents`" not in document
    for sdk in (
        "github.com/cloudevents/sdk-go/v2",
        "protocol/kafka_sarama",
        "io.cloudevents:cloudevents-kafka",
        "CloudEventDeserializer",
    ):
        assert sdk in document


def test_internal_events_get_no_row() -> None:
    internal = [t for t, model in EVENT_TYPES.items() if model.topic in topics.INTERNAL_TOPICS]
    assert internal and not [t for t in internal if f"`{t}`" in events_table()]
