"""The partner stream without a broker: what goes where, what is skipped, when a batch is done."""

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)
from prometheus_client import REGISTRY

from helpline_notify.adapters.partner_topics import (
    KafkaPartnerTopics,
    PartnerTopicNotCreated,
    PartnerTopicSpec,
)
from helpline_notify.service_layer.partner_stream import PartnerForwarder, RecordHeaders
from helpline_shared.envelope import to_record
from helpline_shared.events import TicketAssigned, TicketCreated
from helpline_shared.events.base import Requester

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
PREFIX = "env1."


@dataclass(frozen=True)
class Record:
    """What aiokafka hands the consumer, as far as the partner stream reads it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes
    headers: RecordHeaders


@dataclass
class FakeTopics:
    ensured: list[str] = field(default_factory=list)

    async def ensure(self, topic: str) -> None:
        self.ensured.append(topic)


@dataclass
class FakeSender:
    """Records sends; each acknowledgement is a future the test resolves (or not)."""

    sent: list[Sent] = field(default_factory=list)
    acknowledgements: list["asyncio.Future[None]"] = field(default_factory=list)
    acknowledge_at_once: bool = True
    expected: int = 0
    all_sent: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(
        self, topic: str, *, value: bytes, key: bytes | None, headers: RecordHeaders
    ) -> "asyncio.Future[None]":
        self.sent.append(Sent(topic, key, value, headers))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.acknowledge_at_once:
            future.set_result(None)
        self.acknowledgements.append(future)
        if len(self.sent) >= self.expected:
            self.all_sent.set()
        return future


def created(tenant: str, ticket: str = "t-1") -> TicketCreated:
    return TicketCreated(
        tenant_id=tenant,
        ticket_id=ticket,
        occurred_at=NOW,
        subject="Help",
        description="It broke",
        requester=Requester(email="c@example.org"),
        priority="normal",
        type="question",
        channel="api",
    )


def assigned(tenant: str, ticket: str = "t-1") -> TicketAssigned:
    return TicketAssigned(
        tenant_id=tenant,
        ticket_id=ticket,
        occurred_at=NOW,
        agent_id="a1",
        agent_name="Ann",
        agent_email="ann@example.com",
        channel="api",
        candidates_considered=1,
        reason="skill",
    )


def record(
    event: TicketCreated | TicketAssigned, offset: int = 0, drop: tuple[str, ...] = ()
) -> Record:
    made = to_record(
        event,
        source="/helpline/test",
        extra_headers=[("traceparent", "00-" + "a" * 32 + "-" + "b" * 16 + "-01")],
    )
    return Record(
        PREFIX + made.topic,
        0,
        offset,
        made.key,
        made.value,
        [(name, value) for name, value in made.headers if name not in drop],
    )


def skipped(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("helpline_partner_stream_records_total", {"outcome": reason})
        or 0.0
    )


def forwarder() -> tuple[PartnerForwarder, FakeTopics, FakeSender]:
    topics, sender = FakeTopics(), FakeSender()
    return PartnerForwarder(topics, sender, topic_prefix=PREFIX), topics, sender


async def test_records_are_forwarded_byte_for_byte_to_their_tenants_topic_in_order() -> None:
    forward, topics, sender = forwarder()
    records = [
        record(created("acme"), 0),
        record(created("globex", "t-2"), 1),
        record(assigned("acme"), 2),
    ]

    assert await forward.forward(records) == 3

    assert [s.topic for s in sender.sent] == [
        "env1.helpline.partner.acme",
        "env1.helpline.partner.globex",
        "env1.helpline.partner.acme",
    ]
    for source, sent in zip(records, sender.sent, strict=True):
        assert (sent.key, sent.value, sent.headers) == (
            source.key,
            source.value,
            list(source.headers),
        )
    assert set(topics.ensured) == {"env1.helpline.partner.acme", "env1.helpline.partner.globex"}


async def test_the_tenant_header_is_used_without_decoding_the_value() -> None:
    forward, _, sender = forwarder()
    source = record(created("acme"))
    undecodable = Record(source.topic, 0, 0, source.key, b"\xff not json", source.headers)

    await forward.forward([undecodable])

    assert [s.topic for s in sender.sent] == ["env1.helpline.partner.acme"]
    assert sender.sent[0].value == b"\xff not json"


async def test_a_record_without_the_tenant_header_is_routed_by_its_data() -> None:
    forward, _, sender = forwarder()

    await forward.forward([record(created("acme"), drop=("ce_tenantid",))])

    assert [s.topic for s in sender.sent] == ["env1.helpline.partner.acme"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: record(created("a.b")), "skipped_unsafe_tenant"),
        (lambda: record(created("acme/../x")), "skipped_unsafe_tenant"),
        (
            lambda: record(created("x" * 64).model_copy(update={"tenant_id": "x" * 65})),
            "skipped_unsafe_tenant",
        ),
        (lambda: record(created("acme\n")), "skipped_unsafe_tenant"),
        (
            lambda: Record(
                PREFIX + "helpline.tickets",
                0,
                0,
                b"t-1",
                json.dumps({"ticket_id": "t-1"}).encode(),
                [("ce_id", b"e-1"), ("ce_type", b"helpline.ticket.created.v1")],
            ),
            "skipped_no_tenant",
        ),
        (
            lambda: Record(
                PREFIX + "helpline.tickets",
                0,
                0,
                b"t-1",
                b"{not json",
                [("ce_id", b"e-1"), ("ce_type", b"helpline.ticket.created.v1")],
            ),
            "skipped_no_tenant",
        ),
        (lambda: record(created("acme"), drop=("ce_id",)), "skipped_not_an_event"),
        (
            lambda: Record(
                PREFIX + "helpline.tickets",
                0,
                0,
                b"t-1",
                None,
                [("ce_id", b"e-1"), ("ce_type", b"x"), ("ce_tenantid", b"acme")],
            ),
            "skipped_not_an_event",
        ),
    ],
)
async def test_a_record_no_partner_can_take_is_skipped_counted_and_the_batch_goes_on(
    make: Any,
    reason: str,
) -> None:
    forward, _, sender = forwarder()
    before = skipped(reason)

    assert await forward.forward([make(), record(assigned("acme"), 1)]) == 1

    assert [s.topic for s in sender.sent] == ["env1.helpline.partner.acme"]
    assert skipped(reason) == before + 1


async def test_a_topic_prefix_too_long_for_kafka_is_refused() -> None:
    topics, sender = FakeTopics(), FakeSender()
    forward = PartnerForwarder(topics, sender, topic_prefix="p" * 200)

    assert await forward.forward([record(created("a" * 40))]) == 0
    assert sender.sent == []


async def test_the_batch_is_done_only_when_every_record_is_acknowledged() -> None:
    topics, sender = FakeTopics(), FakeSender(acknowledge_at_once=False, expected=2)
    forward = PartnerForwarder(topics, sender, topic_prefix=PREFIX)
    task = asyncio.create_task(
        forward.forward([record(created("acme")), record(assigned("acme"), 1)])
    )
    await sender.all_sent.wait()

    sender.acknowledgements[0].set_result(None)
    await asyncio.sleep(0)
    assert not task.done()
    sender.acknowledgements[1].set_result(None)
    assert await task == 2


async def test_an_unacknowledged_record_fails_the_batch_so_it_is_not_committed() -> None:
    topics, sender = FakeTopics(), FakeSender(acknowledge_at_once=False, expected=2)
    forward = PartnerForwarder(topics, sender, topic_prefix=PREFIX)
    task = asyncio.create_task(
        forward.forward([record(created("acme")), record(assigned("acme"), 1)])
    )
    await sender.all_sent.wait()
    sender.acknowledgements[0].set_exception(KafkaTimeoutError())
    sender.acknowledgements[1].set_result(None)

    with pytest.raises(KafkaTimeoutError):
        await task


@dataclass
class FakeResponse:
    errors: list[tuple[str, int]]

    def to_object(self) -> dict[str, Any]:
        return {
            "topic_errors": [
                {"topic": topic, "error_code": code, "error_message": None}
                for topic, code in self.errors
            ]
        }


@dataclass
class FakeAdmin:
    """An admin client that answers create_topics with a chosen error code."""

    error_code: int = 0
    requests: list[Any] = field(default_factory=list)
    closed: int = 0

    async def start(self) -> None:
        pass

    async def create_topics(self, new_topics: list[Any]) -> FakeResponse:
        self.requests.extend(new_topics)
        return FakeResponse([(topic.name, self.error_code) for topic in new_topics])

    async def close(self) -> None:
        self.closed += 1


SPEC = PartnerTopicSpec(partitions=3, replication_factor=1, retention_ms=86_400_000)


async def test_a_partner_topic_is_created_once_with_its_partitions_and_retention() -> None:
    admin = FakeAdmin()
    topics = KafkaPartnerTopics(lambda: admin, SPEC)  # type: ignore[arg-type, return-value]

    await topics.ensure("helpline.partner.acme")
    await topics.ensure("helpline.partner.acme")

    assert [
        (t.name, t.num_partitions, t.replication_factor, t.topic_configs) for t in admin.requests
    ] == [("helpline.partner.acme", 3, 1, {"retention.ms": "86400000", "min.insync.replicas": "1"})]
    assert admin.closed == 1


@pytest.mark.parametrize(("replicas", "in_sync"), [(1, "1"), (2, "1"), (3, "2"), (5, "2")])
def test_a_partner_topic_keeps_writes_safe_with_its_replicas(replicas: int, in_sync: str) -> None:
    spec = PartnerTopicSpec(partitions=6, replication_factor=replicas, retention_ms=1)
    assert spec.configs()["min.insync.replicas"] == in_sync


async def test_a_partner_topic_that_already_exists_is_fine() -> None:
    admin = FakeAdmin(error_code=TopicAlreadyExistsError.errno)
    topics = KafkaPartnerTopics(lambda: admin, SPEC)  # type: ignore[arg-type, return-value]

    await topics.ensure("helpline.partner.acme")
    await topics.ensure("helpline.partner.acme")

    assert len(admin.requests) == 1


async def test_a_refused_creation_raises_and_is_tried_again_next_time() -> None:
    admin = FakeAdmin(error_code=TopicAuthorizationFailedError.errno)
    topics = KafkaPartnerTopics(lambda: admin, SPEC)  # type: ignore[arg-type, return-value]

    with pytest.raises(PartnerTopicNotCreated, match="TopicAuthorizationFailedError"):
        await topics.ensure("helpline.partner.acme")
    with pytest.raises(PartnerTopicNotCreated):
        await topics.ensure("helpline.partner.acme")
    assert len(admin.requests) == 2
