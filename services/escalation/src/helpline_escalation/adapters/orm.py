"""Escalation's tables: SLA clocks and their cycles, tickets' facts, policies, durable timers."""

from sqlalchemy import JSON, Column, Float, Index, Integer, MetaData, String, Table

from helpline_shared.runtime.db import UtcDateTime
from helpline_shared.runtime.timers import timers_table

metadata = MetaData()

sla_clocks = Table(
    "sla_clocks",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("ticket_id", String(64), primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("target_seconds", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("deadline", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("stopped_at", UtcDateTime, nullable=True),
    Column("breached_at", UtcDateTime, nullable=True),
    Column("policy_id", String(64), nullable=False, server_default="default"),
    Column("policy_version", Integer, nullable=False, server_default="1"),
    Column("calendar", String(128), nullable=False, server_default="24/7"),
    Column("cycle", Integer, nullable=False, server_default="1"),
    Column("resumed_at", UtcDateTime, nullable=True),
    Column("elapsed_seconds", Float, nullable=False, server_default="0"),
    Column("paused_seconds", Float, nullable=False, server_default="0"),
    Column("paused_at", UtcDateTime, nullable=True),
    Column("sent", JSON, nullable=True),
    Column("history", JSON, nullable=True),
)

sla_cycles = Table(
    "sla_cycles",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("ticket_id", String(64), primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("stopped_at", UtcDateTime, nullable=True),
    Column("breached_at", UtcDateTime, nullable=True),
    Column("paused_seconds", Float, nullable=False, server_default="0"),
    Column("active_seconds", Float, nullable=True),
    # Covers the report's queries: counts by outcome and times to meet need no table lookup.
    Index(
        "ix_sla_cycles_stopped",
        "tenant_id",
        "metric",
        "stopped_at",
        "breached_at",
        "active_seconds",
    ),
    Index("ix_sla_cycles_breached", "tenant_id", "metric", "breached_at"),
)
"""Every cycle of every clock, kept when a restart replaces it in ``sla_clocks`` (reports)."""

sla_tickets = Table(
    "sla_tickets",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("ticket_id", String(64), primary_key=True),
    Column("priority", String(16), nullable=False),
    Column("type", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("plan", String(64), nullable=True),
    Column("organization_id", String(64), nullable=True),
    Column("policy_id", String(64), nullable=False),
    Column("policy_version", Integer, nullable=False),
)

sla_policies = Table(
    "sla_policies",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("policy_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("document", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

preventive_schedules = Table(
    "preventive_schedules",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("schedule_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("cron", String(255), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("ticket", JSON, nullable=False),
    Column("next_occurrence_at", UtcDateTime, nullable=True),
    Column("last_occurrence_at", UtcDateTime, nullable=True),
    Column("last_ticket_id", String(64), nullable=True),
    Column("paused_at", UtcDateTime, nullable=True),
)

timers = timers_table(metadata)
