"""Kafka topic names: the one place they are spelled."""

import re
from typing import Final

__all__ = [
    "AUDIT",
    "DEAD_LETTER_SUFFIX",
    "IDENTITY",
    "INTERNAL_TOPICS",
    "MAX_TOPIC_LENGTH",
    "NOTIFICATIONS",
    "PARTITIONS",
    "PARTNER_TOPIC_PREFIX",
    "PRODUCERS",
    "PUBLIC_TOPICS",
    "ROUTING",
    "SLA",
    "TICKETS",
    "UnsafePartnerTenant",
    "all_topics",
    "dead_letter_topic",
    "partner_topic",
]

TICKETS: Final = "helpline.tickets"
"""Ticket lifecycle events, keyed by ticket id (published by intake)."""
ROUTING: Final = "helpline.routing"
"""Assignment events, keyed by ticket id (published by routing)."""
SLA: Final = "helpline.sla"
"""SLA clock events, keyed by ticket id (published by escalation)."""
NOTIFICATIONS: Final = "helpline.notifications"
"""Delivery outcome events, keyed by ticket id (published by notify)."""

IDENTITY: Final = "helpline.identity"
"""Tenant, user, team and API key events, keyed by tenant id (published by identity)."""
AUDIT: Final = "helpline.audit"
"""Audit records any service publishes (denials, writes), keyed by tenant (kept by identity)."""

PUBLIC_TOPICS: Final = (TICKETS, ROUTING, SLA, NOTIFICATIONS)
"""The topics whose events reach partners (their streams, the AsyncAPI document)."""

INTERNAL_TOPICS: Final = (IDENTITY, AUDIT)
"""Topics between services only: never part of a partner stream."""

PRODUCERS: Final[dict[str, str]] = {
    TICKETS: "intake",
    ROUTING: "routing",
    SLA: "escalation",
    NOTIFICATIONS: "notify",
    IDENTITY: "identity",
    AUDIT: "any service",
}
"""Who publishes on each topic: one service, except the audit records every service may send."""

DEAD_LETTER_SUFFIX: Final = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """Return the dead-letter topic that takes the poison messages of ``topic``."""
    return topic + DEAD_LETTER_SUFFIX


def all_topics() -> tuple[str, ...]:
    """Every topic Helpline needs, dead-letter topics included, in creation order."""
    own = PUBLIC_TOPICS + INTERNAL_TOPICS
    return own + tuple(dead_letter_topic(topic) for topic in own)


PARTITIONS: Final = 6
"""Partitions per topic on the local broker (production sizes come from the Helm values)."""


PARTNER_TOPIC_PREFIX: Final = "helpline.partner."
"""Per-tenant partner streams: ``helpline.partner.<tenant>`` carries that tenant's public events."""


MAX_TOPIC_LENGTH: Final = 249
"""Kafka's limit on a topic name (prefix included)."""

# Kafka topic names allow [a-zA-Z0-9._-]; the dot is left out of tenant ids because Kafka
# refuses two topics that differ only by '.' against '_' (their metric names collide), so
# tenants "a.b" and "a_b" could not both have a stream.
_PARTNER_TENANT = re.compile(r"[A-Za-z0-9_-]{1,64}")


class UnsafePartnerTenant(ValueError):
    """A tenant id that cannot name a partner topic (characters outside [A-Za-z0-9_-])."""


def partner_topic(tenant_id: str) -> str:
    """Return the partner stream of ``tenant_id`` (its public events, nothing of other tenants).

    Raises ``UnsafePartnerTenant`` for a tenant id that is not 1-64 of ``[A-Za-z0-9_-]``.
    """
    if not _PARTNER_TENANT.fullmatch(tenant_id):
        raise UnsafePartnerTenant(
            f"tenant id {tenant_id[:80]!r} cannot name a Kafka topic: "
            "1 to 64 letters, digits, '_' or '-'"
        )
    return PARTNER_TOPIC_PREFIX + tenant_id
