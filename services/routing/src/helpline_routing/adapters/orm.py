"""Routing's tables."""

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table

from helpline_shared.runtime.db import UtcDateTime

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
)

agent_capacity = Table(
    "agent_capacity",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("capacity", Integer, nullable=False),
    Column("active", Integer, nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("ticket_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("agent_id", String(64), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("assigned_at", UtcDateTime, nullable=False),
    Column("released_at", UtcDateTime, nullable=True),
)

waiting_tickets = Table(
    "waiting_tickets",
    metadata,
    Column("ticket_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("required_skills", JSON, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("priority_rank", Integer, nullable=False),
    Column("enqueued_at", UtcDateTime, nullable=False),
    Column("reason", String(500), nullable=False),
    Index("ix_waiting_order", "tenant_id", "priority_rank", "enqueued_at"),
)
