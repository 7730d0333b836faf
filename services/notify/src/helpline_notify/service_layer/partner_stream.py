"""Per-tenant partner streams: every public event forwarded, byte for byte, to its tenant's topic.

A record on the internal topics goes to ``<prefix>helpline.partner.<tenant>`` with the same key,
value and headers (CloudEvents attributes, ``traceparent``): nothing is decoded or re-encoded, so
a partner sees the ``ce_id`` and trace context that Helpline's own consumers see. The tenant comes
from the ``ce_tenantid`` header; only records written before that header existed have their JSON
value read for ``tenant_id``.

A record whose tenant cannot be told (or cannot name a topic) is skipped, with a log line and a
metric, rather than dead-lettered: it belongs to no partner, notify's own consumer already
dead-letters what it cannot decode, and the record stays on its internal topic to be looked at.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Sequence
from typing import Any, ClassVar, Protocol

from prometheus_client import Counter

from helpline_shared.envelope import TENANT_HEADER
from helpline_shared.topics import MAX_TOPIC_LENGTH, UnsafePartnerTenant, partner_topic

log = logging.getLogger(__name__)

PARTNER_RECORDS = Counter(
    "helpline_partner_stream_records_total",
    "Records of the public topics seen by the partner stream, by outcome",
    ["outcome"],
)

RecordHeaders = list[tuple[str, bytes]]


class SourceRecord(Protocol):
    """A consumed record as the partner stream reads it (aiokafka's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class PartnerTopics(Protocol):
    """Creates partner topics before their first record."""

    async def ensure(self, topic: str) -> None:
        """Make sure ``topic`` exists (created once, never auto-created by the broker)."""
        ...


class RecordSender(Protocol):
    """An idempotent ``acks=all`` producer: the runtime's ``EventProducer``."""

    async def send(
        self, topic: str, *, value: bytes, key: bytes | None, headers: RecordHeaders
    ) -> Awaitable[Any]:
        """Queue a record; the result resolves when the broker acknowledged it."""
        ...


class NotForPartners(Exception):
    """A record that no partner stream takes; ``reason`` names why in the metric."""

    reason: ClassVar[str] = "skipped"


class NotAnEvent(NotForPartners):
    """A record without a value or without its ``ce_id`` and ``ce_type`` headers."""

    reason = "skipped_not_an_event"


class TenantUnknown(NotForPartners):
    """Neither the ``ce_tenantid`` header nor the JSON value names a tenant."""

    reason = "skipped_no_tenant"


class TenantUnfitForTopic(NotForPartners):
    """The tenant id cannot be part of a Kafka topic name."""

    reason = "skipped_unsafe_tenant"


def _header(record: SourceRecord, name: str) -> bytes | None:
    for header, value in record.headers or ():
        if header.lower() == name:
            return value
    return None


def tenant_of(record: SourceRecord) -> str:
    """The tenant of ``record``: its ``ce_tenantid`` header, else its JSON value's ``tenant_id``."""
    if not record.value or not _header(record, "ce_id") or not _header(record, "ce_type"):
        raise NotAnEvent("no value, ce_id or ce_type")
    header = _header(record, TENANT_HEADER)
    if header is not None:
        try:
            return header.decode()
        except UnicodeDecodeError as error:
            raise TenantUnfitForTopic("the ce_tenantid header is not UTF-8") from error
    try:
        data = json.loads(record.value)
    except (ValueError, UnicodeDecodeError) as error:
        raise TenantUnknown("no ce_tenantid header and the value is not JSON") from error
    tenant = data.get("tenant_id") if isinstance(data, dict) else None
    if not isinstance(tenant, str) or not tenant:
        raise TenantUnknown("no ce_tenantid header and no tenant_id in the value")
    return tenant


def destination(record: SourceRecord, topic_prefix: str) -> str:
    """The partner topic ``record`` goes to, ``topic_prefix`` included."""
    tenant = tenant_of(record)
    try:
        topic = topic_prefix + partner_topic(tenant)
    except UnsafePartnerTenant as error:
        raise TenantUnfitForTopic(str(error)) from error
    if len(topic) > MAX_TOPIC_LENGTH:
        raise TenantUnfitForTopic(f"{topic[:60]}... is longer than {MAX_TOPIC_LENGTH} characters")
    return topic


class PartnerForwarder:
    """Forwards consumed batches of the public topics to the partner topics."""

    def __init__(self, topics: PartnerTopics, sender: RecordSender, *, topic_prefix: str) -> None:
        self._topics = topics
        self._sender = sender
        self._topic_prefix = topic_prefix

    async def forward(self, records: Sequence[SourceRecord]) -> int:
        """Forward ``records`` in order; return how many, once the broker acknowledged them all.

        Raises when any record was not acknowledged: the caller must then not commit the batch
        (it is read again; partners dedupe the records already forwarded on ``ce_id``).
        """
        acknowledgements: list[Awaitable[Any]] = []
        for record in records:
            try:
                topic = destination(record, self._topic_prefix)
            except NotForPartners as error:
                PARTNER_RECORDS.labels(error.reason).inc()
                log.warning(
                    "record not forwarded to a partner stream",
                    extra={
                        "topic": record.topic,
                        "partition": record.partition,
                        "offset": record.offset,
                        "reason": error.reason,
                        "error": str(error)[:300],
                    },
                )
                continue
            await self._topics.ensure(topic)
            # Sent one after the other without waiting: the idempotent producer keeps their
            # order per partition, and one key always hashes to one partition.
            acknowledgements.append(
                await self._sender.send(
                    topic, value=record.value or b"", key=record.key, headers=list(record.headers)
                )
            )
        results = await asyncio.gather(*acknowledgements, return_exceptions=True)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise failures[0]
        PARTNER_RECORDS.labels("forwarded").inc(len(acknowledgements))
        return len(acknowledgements)
