"""The partner stream's consumer: its own group, so partners and notifications never wait on each
other; offsets are committed only after every forwarded record of the batch was acknowledged."""

import asyncio
import logging
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaMessage

from helpline_notify.adapters.partner_topics import (
    KafkaPartnerTopics,
    PartnerTopicSpec,
    admin_client,
)
from helpline_notify.config import NotifySettings
from helpline_notify.service_layer.partner_stream import PartnerForwarder
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.topics import PUBLIC_TOPICS

log = logging.getLogger(__name__)

GROUP = "helpline-notify-partners"
CLIENT_ID = "helpline-notify-partners"
RETRY_PAUSE = 1.0
"""Seconds to wait before a failed batch is read again (a broker outage passes)."""


async def _undecoded(message: KafkaMessage) -> object:
    # The records are forwarded as they are: FastStream must not try to decode them.
    return message.body


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

    @runtime.broker.subscriber(
        *(settings.topic_prefix + topic for topic in PUBLIC_TOPICS),
        group_id=GROUP,
        auto_offset_reset="earliest",
        # A failure raises: FastStream rewinds each partition of the batch and commits nothing.
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=settings.consumer_batch_size,
        batch_timeout_ms=20,
        decoder=_undecoded,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )
    async def forward(body: object, message: KafkaMessage) -> None:
        records: tuple[ConsumerRecord[Any, Any], ...] = message.raw_message  # type: ignore[assignment]
        try:
            await forwarder.forward(records)
        except Exception as error:
            log.warning(
                "partner stream batch not forwarded; it will be read again",
                extra={"records": len(records), "error": f"{type(error).__name__}: {error}"[:300]},
            )
            await asyncio.sleep(RETRY_PAUSE)
            raise
