"""Partner topics created explicitly through Kafka's admin API (the broker never auto-creates)."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from prometheus_client import Counter

from helpline_shared.kafka_security import aiokafka_options
from helpline_shared.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

PARTNER_TOPICS_CREATED = Counter(
    "helpline_partner_topics_created_total", "Partner topics created by this process"
)


class PartnerTopicNotCreated(Exception):
    """The broker refused to create a partner topic (the error code's name says why)."""


@dataclass(frozen=True)
class PartnerTopicSpec:
    """How a new partner topic is made."""

    partitions: int
    replication_factor: int
    retention_ms: int

    def configs(self) -> dict[str, str]:
        """The topic's configuration: its retention, and ``acks=all`` meaning two copies where
        there are three replicas (one less than the replicas, at least one, at most two)."""
        in_sync = min(2, max(1, self.replication_factor - 1))
        return {"retention.ms": str(self.retention_ms), "min.insync.replicas": str(in_sync)}


def admin_client(settings: ServiceSettings, client_id: str) -> AIOKafkaAdminClient:
    """An admin client on the service's cluster: the one place the partner stream builds one."""
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        **aiokafka_options(settings.kafka_security()),
    )


class KafkaPartnerTopics:
    """Creates each partner topic on its first use; remembers the ones that exist."""

    def __init__(self, admin: Callable[[], AIOKafkaAdminClient], spec: PartnerTopicSpec) -> None:
        self._admin = admin
        self._spec = spec
        self._known: set[str] = set()

    async def ensure(self, topic: str) -> None:
        """Create ``topic`` unless this process already knows it exists."""
        if topic in self._known:
            return
        # A client per creation: it happens once per tenant and process, and no connection
        # is left to keep alive or to close at shutdown.
        admin = self._admin()
        try:
            await admin.start()
            response = await admin.create_topics(
                [
                    NewTopic(
                        topic,
                        num_partitions=self._spec.partitions,
                        replication_factor=self._spec.replication_factor,
                        topic_configs=self._spec.configs(),
                    )
                ]
            )
        finally:
            await admin.close()
        for result in response.to_object()["topic_errors"]:
            code = result["error_code"]
            if code and for_code(code) is not TopicAlreadyExistsError:
                raise PartnerTopicNotCreated(
                    f"cannot create {result['topic']}: {for_code(code).__name__}"
                )
            if not code:
                PARTNER_TOPICS_CREATED.inc()
                log.info("partner topic created", extra={"topic": topic})
        self._known.add(topic)
