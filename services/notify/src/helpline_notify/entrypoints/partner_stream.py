"""The partner stream's consumer: its own group, so partners and notifications never wait on each
other; offsets are committed only after every forwarded record of the batch was acknowledged."""

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol, cast

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage

from helpline_notify.adapters.partner_topics import (
    KafkaPartnerTopics,
    PartnerTopicSpec,
    admin_client,
)
from helpline_notify.config import NotifySettings
from helpline_notify.service_layer.partner_stream import PartnerForwarder, SourceRecord
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.topics import PUBLIC_TOPICS

log = logging.getLogger(__name__)

GROUP = "helpline-notify-partners"
CLIENT_ID = "helpline-notify-partners"
RETRY_PAUSE = 1.0
"""Seconds to wait before a failed batch is read again (a broker outage passes)."""


class Forwarder(Protocol):
    """Forwards a consumed batch (``PartnerForwarder``)."""

    async def forward(self, records: Sequence[SourceRecord]) -> int:
        """Forward ``records``; raise unless every one was acknowledged."""
        ...


async def _records(message: KafkaMessage) -> object:
    # The records are forwarded as they are: FastStream must not decode them. They are the
    # handler's one argument, so no ``message: KafkaMessage`` context parameter is resolved,
    # which FastStream does in a worker thread for every batch.
    return message.raw_message


def subscribe_partner_stream(runtime: ServiceRuntime, settings: NotifySettings) -> None:
    """Forward every record of the public topics to its tenant's partner topic."""
    spec = PartnerTopicSpec(
        partitions=settings.partner_stream_partitions,
        replication_factor=settings.partner_stream_replication_factor,
        retention_ms=settings.partner_stream_retention_ms,
    )
    forwarder = PartnerForwarder(
        KafkaPartnerTopics(lambda: admin_client(settings, CLIENT_ID), spec),
        runtime.producer,
        topic_prefix=settings.topic_prefix,
    )
    subscribe_forwarder(
        runtime.broker,
        forwarder,
        [settings.topic_prefix + topic for topic in PUBLIC_TOPICS],
        settings.consumer_batch_size,
    )


def subscribe_forwarder(
    broker: KafkaBroker, forwarder: Forwarder, topics: Sequence[str], batch_size: int
) -> None:
    """Hand each consumed batch of ``topics`` to ``forwarder``; commit it once forwarded."""

    @broker.subscriber(
        *topics,
        group_id=GROUP,
        auto_offset_reset="earliest",
        # A failure raises: FastStream rewinds each partition of the batch and commits nothing.
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=batch_size,
        batch_timeout_ms=20,
        decoder=_records,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )
    async def forward(batch: object) -> None:
        records = cast(Sequence[SourceRecord], batch)
        try:
            await forwarder.forward(records)
        except Exception as error:
            log.warning(
                "partner stream batch not forwarded; it will be read again",
                extra={"records": len(records), "error": f"{type(error).__name__}: {error}"[:300]},
            )
            await asyncio.sleep(RETRY_PAUSE)
            raise
