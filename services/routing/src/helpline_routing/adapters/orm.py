"""Routing's tables."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from helpline_shared.runtime.db import UtcDateTime
from helpline_shared.runtime.idempotency import idempotency_table
from helpline_shared.runtime.timers import timers_table

metadata = MetaData()

agents = Table(
    "agents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("skills", JSON, nullable=False),
    Column("presence", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_assigned_at", UtcDateTime, nullable=True),
    Column("languages", JSON, nullable=False, server_default="[]"),
    Column("teams", JSON, nullable=False, server_default="[]"),
    Column("last_activity_at", UtcDateTime, nullable=True),
    Column("expired_offers_in_row", Integer, nullable=False, server_default="0"),
    Column("auto_accept", Boolean, nullable=True),
    Column("user_id", String(64), nullable=True),
    Index("uq_agents_tenant_user", "tenant_id", "user_id", unique=True),
)

agent_capacity = Table(
    "agent_capacity",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("capacity", Integer, nullable=False),
    Column("active", Integer, nullable=False),
)

routed_tickets = Table(
    "routed_tickets",
    metadata,
    Column("ticket_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("priority_rank", Integer, nullable=False),
    Column("queued_at", UtcDateTime, nullable=False),
    Column("agent_id", String(64), nullable=True, index=True),
    Column("data", JSON, nullable=False),
    Index("ix_routed_queue", "tenant_id", "state", "priority_rank", "queued_at"),
)

offers = Table(
    "offers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("ticket_id", String(64), nullable=False, index=True),
    Column("agent_id", String(64), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("explanation", JSON, nullable=False),
)

routing_history = Table(
    "routing_history",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("tenant_id", String(64), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("summary", Text, nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_routing_history_ticket", "ticket_id", "id"),
)

rule_sets = Table(
    "rule_sets",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("rules", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

tenant_settings = Table(
    "tenant_settings",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("settings", JSON, nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("organization_id", String(64), primary_key=True),
    Column("account_manager_id", String(64), nullable=True),
)

agent_pool_versions = Table(
    "agent_pool_versions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("version", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column(
        "config_version",
        BigInteger().with_variant(Integer, "sqlite"),
        nullable=False,
        server_default="0",
    ),
)
"""``version`` is bumped by every commit that changes one of the tenant's agents (cached pools
check it), ``config_version`` by every commit that changes its rules or settings (cached
configuration checks it); one statement reads both."""


timers = timers_table(metadata)
idempotent_requests = idempotency_table(metadata)
