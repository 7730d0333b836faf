"""Who may do what on Kafka: one principal per service, one per partner, least privilege.

The one table of Helpline's Kafka permissions. The Helm chart's KafkaUsers, the devstack's secure
broker and the security tests all grant exactly :func:`service_acls` and :func:`partner_acls`
(a test renders the chart and compares).
"""

import re
from dataclasses import dataclass
from typing import Final, Literal

from helpline_shared.topics import (
    AUDIT,
    IDENTITY,
    NOTIFICATIONS,
    PARTNER_TOPIC_PREFIX,
    PUBLIC_TOPICS,
    ROUTING,
    SLA,
    TICKETS,
    dead_letter_topic,
    partner_topic,
)

ResourceType = Literal["topic", "group", "cluster"]
PatternType = Literal["literal", "prefix"]
Operation = Literal["Read", "Write", "Describe", "Create", "IdempotentWrite"]

CLUSTER: Final = "kafka-cluster"
"""The name of the one cluster resource (as Kafka spells it)."""

PARTNER_REPUBLISHER_GROUP: Final = "helpline-notify-partners"
"""Notify's second consumer group: it copies each tenant's public events to its partner stream."""


@dataclass(frozen=True, order=True)
class Acl:
    """Permission of one principal for one operation on one resource (always "allow")."""

    resource: ResourceType
    name: str
    pattern: PatternType
    operation: Operation


@dataclass(frozen=True)
class Subscription:
    """Topics a service consumes in one consumer group."""

    group: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class ServiceAccess:
    """What one service reads, writes and creates on Kafka."""

    subscriptions: tuple[Subscription, ...]
    produces: tuple[str, ...]
    creates_prefixes: tuple[str, ...] = ()
    """Topic name prefixes under which it creates, writes and describes topics itself."""

    @property
    def consumes(self) -> tuple[str, ...]:
        """Every topic it reads, in the order of its subscriptions."""
        return tuple(dict.fromkeys(t for s in self.subscriptions for t in s.topics))


SERVICE_ACCESS: Final[dict[str, ServiceAccess]] = {
    "intake": ServiceAccess(
        (Subscription("helpline-intake", (ROUTING, SLA, NOTIFICATIONS, IDENTITY)),),
        produces=(TICKETS, AUDIT),
    ),
    "routing": ServiceAccess(
        (Subscription("helpline-routing", (TICKETS, SLA, IDENTITY)),), produces=(ROUTING, AUDIT)
    ),
    "escalation": ServiceAccess(
        (Subscription("helpline-escalation", (TICKETS,)),), produces=(SLA, AUDIT)
    ),
    "notify": ServiceAccess(
        (
            Subscription("helpline-notify", (TICKETS, ROUTING, SLA, IDENTITY)),
            Subscription(PARTNER_REPUBLISHER_GROUP, PUBLIC_TOPICS),
        ),
        produces=(NOTIFICATIONS, AUDIT),
        creates_prefixes=(PARTNER_TOPIC_PREFIX,),
    ),
    # Identity keeps the audit records (its own are written straight to its log); every other
    # service writes AUDIT: its HTTP API's writes, denials and refused credentials.
    "identity": ServiceAccess((Subscription("helpline-identity", (AUDIT,)),), produces=(IDENTITY,)),
}
"""Each service's Kafka access; the topics are those its ``bootstrap`` subscribes to."""


@dataclass(frozen=True)
class ReaderAccess:
    """A program that only reads, each process in a consumer group of its own (from the end,
    committing nothing): it writes nothing, not even dead letters."""

    topics: tuple[str, ...]
    group_prefix: str


READER_ACCESS: Final[dict[str, ReaderAccess]] = {
    # The workspace's live pages: offers, assignments, presence and ticket changes.
    "workspace": ReaderAccess((ROUTING, TICKETS), group_prefix="helpline-workspace."),
}
"""Programs besides the services that read Kafka, and what they read."""


def reader_group(program: str) -> str:
    """The prefix of every consumer group of ``program``'s processes."""
    return READER_ACCESS[program].group_prefix


def reader_acls(program: str, topic_prefix: str = "") -> frozenset[Acl]:
    """Everything a reader's principal may do: read its topics in groups of its prefix."""
    access = READER_ACCESS[program]
    acls: set[Acl] = {
        Acl("group", access.group_prefix, "prefix", op) for op in ("Read", "Describe")
    }
    for topic in access.topics:
        acls |= _topic(topic_prefix + topic, "literal", "Read", "Describe")
    return frozenset(acls)


def service_user(service: str) -> str:
    """The Kafka user (SCRAM name, KafkaUser) of ``service``."""
    return f"helpline-{service}"


def service_acls(service: str, topic_prefix: str = "") -> frozenset[Acl]:
    """Everything ``service``'s principal may do, and nothing more."""
    access = SERVICE_ACCESS[service]
    acls: set[Acl] = {Acl("cluster", CLUSTER, "literal", "IdempotentWrite")}
    for subscription in access.subscriptions:
        acls |= {Acl("group", subscription.group, "literal", op) for op in ("Read", "Describe")}
    for topic in access.consumes:
        acls |= _topic(topic_prefix + topic, "literal", "Read", "Describe")
        # Poison messages of what it consumes go to that topic's dead-letter topic.
        acls |= _topic(topic_prefix + dead_letter_topic(topic), "literal", "Write", "Describe")
    for topic in access.produces:
        acls |= _topic(topic_prefix + topic, "literal", "Write", "Describe")
    for prefix in access.creates_prefixes:
        acls |= _topic(topic_prefix + prefix, "prefix", "Create", "Write", "Describe")
    return frozenset(acls)


_PARTNER_PART = re.compile(r"^[a-zA-Z0-9_-]{1,100}$")


class InvalidPartner(ValueError):
    """A tenant or partner name that cannot be part of a Kafka user or group name."""


def partner_user(tenant: str, name: str) -> str:
    """The Kafka user of partner ``name`` of ``tenant``: ``partner.<tenant>.<name>``."""
    for part in (tenant, name):
        if not _PARTNER_PART.fullmatch(part):
            raise InvalidPartner(f"{part!r}: use letters, digits, '-' and '_' (at most 100)")
    return f"partner.{tenant}.{name}"


def partner_group_prefix(tenant: str, name: str) -> str:
    """The prefix of every consumer group the partner may use."""
    return partner_user(tenant, name) + "."


def partner_acls(tenant: str, name: str, topic_prefix: str = "") -> frozenset[Acl]:
    """What a partner may do: read its tenant's stream in groups of its own prefix; no more."""
    return frozenset(
        {
            *_topic(topic_prefix + partner_topic(tenant), "literal", "Read", "Describe"),
            Acl("group", partner_group_prefix(tenant, name), "prefix", "Read"),
        }
    )


def _topic(name: str, pattern: PatternType, *operations: Operation) -> set[Acl]:
    return {Acl("topic", name, pattern, operation) for operation in operations}
