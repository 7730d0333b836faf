"""Consumer lag: how far each consumer group is behind the end of each partition it reads."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupAuthorizationFailedError
from aiokafka.structs import OffsetAndMetadata

from helpline_shared.kafka_acls import SERVICE_ACCESS
from helpline_shared.kafka_security import KafkaSecurity, aiokafka_options


def service_groups(topic_prefix: str) -> dict[str, tuple[str, ...]]:
    """Each consumer group of the services and the topics it reads (as the services name them)."""
    return {
        subscription.group: tuple(topic_prefix + topic for topic in subscription.topics)
        for access in SERVICE_ACCESS.values()
        for subscription in access.subscriptions
    }


@dataclass(frozen=True)
class PartitionLag:
    """Where one group stands in one partition."""

    group: str
    topic: str
    partition: int
    committed: int | None
    """The group's committed offset; None when it has never committed one here."""
    start: int
    end: int

    @property
    def lag(self) -> int:
        """Records after the committed offset (all records there when it never committed)."""
        return self.end - max(self.start, self.committed if self.committed is not None else 0)

    def as_dict(self) -> dict[str, Any]:
        """As ``lag -o json`` shows it."""
        return {
            "group": self.group,
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "end": self.end,
            "lag": self.lag,
        }


@dataclass(frozen=True)
class GroupLag:
    """One consumer group's lag, partition by partition."""

    group: str
    partitions: tuple[PartitionLag, ...]
    authorized: bool = True
    """False: the broker does not let this principal describe the group (nothing was read)."""

    @property
    def total(self) -> int:
        """The sum over its partitions."""
        return sum(partition.lag for partition in self.partitions)

    def as_dict(self) -> dict[str, Any]:
        """As ``lag -o json`` shows it."""
        return {
            "group": self.group,
            "lag": self.total,
            "authorized": self.authorized,
            "partitions": [partition.as_dict() for partition in self.partitions],
        }


class _Clients:
    """An admin client and an unassigned consumer, to read offsets (not records)."""

    def __init__(self, bootstrap_servers: str, security: KafkaSecurity) -> None:
        self._servers = bootstrap_servers
        self._security = security
        self.admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="helpline-cli",
            **aiokafka_options(security),
        )

    async def __aenter__(self) -> "_Clients":
        await self.admin.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            group_id=None,
            enable_auto_commit=False,
            client_id="helpline-cli",
            **aiokafka_options(self._security),
        )
        try:
            await self.consumer.start()
        except BaseException:
            await self.consumer.stop()
            await self.admin.close()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def ranges(self, topics: Sequence[str]) -> dict[str, list[tuple[int, int, int]]]:
        """(partition, start, end) of each existing one of ``topics``."""
        if not topics:
            return {}
        described = await self.admin.describe_topics(list(topics))
        partitions = [
            TopicPartition(item["topic"], p["partition"])
            for item in described
            if item["error_code"] == 0
            for p in item["partitions"]
        ]
        if not partitions:
            return {}
        starts = await self.consumer.beginning_offsets(partitions)
        ends = await self.consumer.end_offsets(partitions)
        found: dict[str, list[tuple[int, int, int]]] = {}
        for tp in sorted(partitions):
            found.setdefault(tp.topic, []).append((tp.partition, starts[tp], ends[tp]))
        return found


async def consumer_lag(
    bootstrap_servers: str, security: KafkaSecurity, groups: Mapping[str, Sequence[str]]
) -> list[GroupLag]:
    """The lag of each group over its topics (none given: those it committed in)."""
    # Missing topics are left out: doctor reports them.
    async with _Clients(bootstrap_servers, security) as clients:
        committed = {group: await _committed(clients.admin, group) for group in groups}
        wanted = {
            group: (
                list(topics) or sorted({tp.topic for tp in committed[group] or ()})
                if committed[group] is not None
                else []
            )
            for group, topics in groups.items()
        }
        ranges = await clients.ranges(sorted({t for topics in wanted.values() for t in topics}))
    found = []
    for group, topics in wanted.items():
        offsets = committed[group]
        if offsets is None:
            found.append(GroupLag(group, (), authorized=False))
            continue
        rows = []
        for topic in topics:
            for partition, start, end in ranges.get(topic, []):
                offset = offsets.get(TopicPartition(topic, partition))
                position = offset.offset if offset is not None and offset.offset >= 0 else None
                rows.append(PartitionLag(group, topic, partition, position, start, end))
        found.append(GroupLag(group, tuple(rows)))
    return found


async def _committed(
    admin: AIOKafkaAdminClient, group: str
) -> dict[TopicPartition, OffsetAndMetadata] | None:
    """The group's committed offsets; None when the broker will not show them to us."""
    try:
        offsets: dict[TopicPartition, OffsetAndMetadata] = await admin.list_consumer_group_offsets(
            group
        )
    except GroupAuthorizationFailedError:
        return None
    return offsets


async def topic_depths(
    bootstrap_servers: str, security: KafkaSecurity, topics: Sequence[str]
) -> dict[str, int]:
    """How many records each existing one of ``topics`` holds (end minus start offsets)."""
    async with _Clients(bootstrap_servers, security) as clients:
        ranges = await clients.ranges(topics)
    return {topic: sum(end - start for _p, start, end in parts) for topic, parts in ranges.items()}
