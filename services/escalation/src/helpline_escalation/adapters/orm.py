"""Escalation's tables: SLA clocks, and the durable timers that breach them."""

from sqlalchemy import Column, Integer, MetaData, String, Table

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
)

timers = timers_table(metadata)
