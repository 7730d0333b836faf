"""Notify's tables."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from helpline_shared.runtime.db import UtcDateTime

metadata = MetaData()

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_webhook_endpoints_tenant", "tenant_id", "created_at"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("subject", String(998), nullable=True),
    Column("requester_email", String(320), nullable=True),
    Column("assignee_id", String(64), nullable=True),
    Column("assignee_name", String(200), nullable=True),
    Column("assignee_email", String(320), nullable=True),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("destination", String(320), nullable=False),
    Column("trigger_event_id", String(64), nullable=False),
    Column("trigger_event_type", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("subject", String(998), nullable=True),
    Column("trace_headers", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    UniqueConstraint("trigger_event_id", "channel", "destination",
                     name="uq_deliveries_trigger_channel_destination"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_tenant_ticket", "tenant_id", "ticket_id", "created_at"),
    Index("ix_deliveries_tenant_created", "tenant_id", "created_at", "id"),
)
