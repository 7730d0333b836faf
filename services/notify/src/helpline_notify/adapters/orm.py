"""Notify's tables."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)

from helpline_shared.runtime.db import UtcDateTime
from helpline_shared.runtime.idempotency import idempotency_table

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
    Column("previous_secret", String(128), nullable=True),
    Column("previous_secret_expires_at", UtcDateTime, nullable=True),
    Column("ordered", Boolean, nullable=False, server_default=false()),
    Column("owner_email", String(320), nullable=True),
    Column("filters", JSON, nullable=True),
    Column("failing_since", UtcDateTime, nullable=True),
    Column("disabled_reason", String(500), nullable=True),
    Column("personal_data", Boolean, nullable=False, server_default=true()),
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
    Column("requester_name", String(200), nullable=True),
    Column("priority", String(16), nullable=True),
    Column("type", String(16), nullable=True),
    Column("organization_id", String(64), nullable=True),
    Column("language", String(16), nullable=True),
    Column("mailbox", String(320), nullable=True),
    Column("thread", JSON, nullable=True),
    Column("team", String(64), nullable=True),
    Column("account_manager_id", String(64), nullable=True),
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
    Column("html", Text, nullable=True),
    Column("headers", JSON, nullable=True),
    Column("ordered", Boolean, nullable=False, server_default=false()),
    Column("attempts_before_replay", Integer, nullable=False, server_default="0"),
    Column("attachments", JSON, nullable=True),
    UniqueConstraint(
        "trigger_event_id",
        "channel",
        "destination",
        name="uq_deliveries_trigger_channel_destination",
    ),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_tenant_ticket", "tenant_id", "ticket_id", "created_at"),
    Index("ix_deliveries_tenant_created", "tenant_id", "created_at", "id"),
    Index("ix_deliveries_destination_created", "destination", "created_at"),
)
# The per-address mail cap counts one address's recent mail from this index alone.
Index(
    "ix_deliveries_recipient_window",
    deliveries.c.tenant_id,
    deliveries.c.channel,
    func.lower(deliveries.c.destination),
    deliveries.c.created_at,
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("detail", Text, nullable=True),
    Index("ix_delivery_attempts_delivery", "delivery_id", "attempt"),
    Index("ix_delivery_attempts_started", "started_at"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("reason", String(500), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("filters", JSON, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("addresses", JSON, nullable=False),
    Column("endpoint_ids", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_subscriptions_tenant", "tenant_id", "created_at"),
)

templates = Table(
    "templates",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("event_type", String(128), primary_key=True),
    Column("language", String(16), primary_key=True),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)
tenant_settings = Table(
    "tenant_settings",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("version", String(32), nullable=False),
)
"""The version of each tenant's subscriptions, webhook endpoints and templates: a fresh random
token written by every change to them, in the changing transaction (no row: none ever set)."""

idempotent_requests = idempotency_table(metadata)

people = Table(
    "people",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(16), nullable=False),
    Column("teams", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Index("ix_people_tenant_email", "tenant_id", "email"),
)
"""The tenant's users, as identity's events describe them (emails stored lowercase)."""

teams = Table(
    "teams",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("team_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("deleted", Boolean, nullable=False, server_default=false()),
)

routing_agents = Table(
    "routing_agents",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("agent_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
)
"""Routing's agents as its assignments and offers name them (id, name, address)."""

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
)
"""Tenant display names (identity's ``TenantCreated``): the "via" of a person's reply."""

ticket_watchers = Table(
    "ticket_watchers",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("ticket_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("added_at", UtcDateTime, nullable=False),
)
