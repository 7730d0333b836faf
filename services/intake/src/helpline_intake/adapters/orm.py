"""Intake's tables."""

from sqlalchemy import JSON, Boolean, Column, Index, MetaData, String, Table, Text

from helpline_shared.runtime.db import UtcDateTime

metadata = MetaData()

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("subject", String(998), nullable=False),
    Column("description", Text, nullable=False),
    Column("requester_email", String(320), nullable=False),
    Column("requester_name", String(200), nullable=True),
    Column("priority", String(16), nullable=False),
    Column("type", String(16), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("assignee_id", String(64), nullable=True),
    Column("sla", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_tickets_tenant_created", "tenant_id", "created_at", "id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ticket_id", String(64), nullable=False, index=True),
    Column("tenant_id", String(64), nullable=False),
    Column("author_role", String(16), nullable=False),
    Column("author_id", String(64), nullable=True),
    Column("public", Boolean, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("auto_reply", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
