"""Kafka topic names: the one place they are spelled."""

from typing import Final

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

PUBLIC_TOPICS: Final = (TICKETS, ROUTING, SLA, NOTIFICATIONS)
AUDIT: Final = "helpline.audit"
"""Audit records any service publishes (denials, writes), keyed by tenant (kept by identity)."""

INTERNAL_TOPICS: Final = (IDENTITY, AUDIT)
"""Topics between services only: never part of a partner stream."""

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


def partner_topic(tenant_id: str) -> str:
    """Return the partner stream of ``tenant_id`` (its public events, nothing of other tenants)."""
    return PARTNER_TOPIC_PREFIX + tenant_id
