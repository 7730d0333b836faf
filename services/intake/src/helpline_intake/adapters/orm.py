"""Intake's tables."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from helpline_shared.runtime.db import UtcDateTime
from helpline_shared.runtime.idempotency import idempotency_table

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
    Column("organization_id", String(64), nullable=True),
    Column("mailbox", String(320), nullable=True),
    Column("merged_into_id", String(64), nullable=True),
    # ",tag1,tag2," so a tag filter is a portable LIKE (tags never contain commas).
    Column("tag_index", Text, nullable=False, server_default=""),
    Column("team", String(100), nullable=True),
    # Derived from ``sla`` on every save, so lists can filter and sort by them with an index.
    Column("next_deadline", UtcDateTime, nullable=True),
    # next_deadline, or the far future when none: "no deadline last" on every backend.
    Column("due_order", UtcDateTime, nullable=False),
    Column("sla_breached", Boolean, nullable=False, server_default=text("false")),
    # Subject, requester address and name, lower-cased by Python: one case rule on every backend.
    Column("search_text", Text, nullable=False, server_default=""),
    Index("ix_tickets_tenant_created", "tenant_id", "created_at", "id"),
    Index("ix_tickets_tenant_requester", "tenant_id", "requester_email"),
    Index("ix_tickets_tenant_team", "tenant_id", "team", "created_at", "id"),
    Index("ix_tickets_tenant_assignee", "tenant_id", "assignee_id", "created_at", "id"),
    Index("ix_tickets_tenant_due", "tenant_id", "due_order", "created_at", "id"),
    Index(
        "ix_tickets_tenant_assignee_due",
        "tenant_id",
        "assignee_id",
        "due_order",
        "created_at",
        "id",
    ),
    Index("ix_tickets_tenant_breached", "tenant_id", "sla_breached", "created_at", "id"),
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
    Column("email_message_id", String(998), nullable=True),
    Column("html", Text, nullable=True),
    Column("attachments", JSON, nullable=True),
)

thread_ids = Table(
    "thread_ids",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("email_message_id", String(998), primary_key=True),
    Column("ticket_id", String(64), nullable=False),
    Column("direction", String(8), nullable=False),
)
"""Every Message-ID received or sent on a ticket, for threading by In-Reply-To/References."""

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("address", String(320), nullable=False),
    Column("aliases", JSON, nullable=False),
    Column("priority", String(16), nullable=False),
    Column("type", String(16), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("imap", JSON, nullable=True),
    Column("imap_uidvalidity", Integer, nullable=True),
    Column("imap_last_uid", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
)

mailbox_addresses = Table(
    "mailbox_addresses",
    metadata,
    Column("address", String(320), primary_key=True),
    Column("mailbox_id", String(64), nullable=False, index=True),
    Column("tenant_id", String(64), nullable=False),
)
"""Each address (main and aliases) delivers to exactly one mailbox of one tenant."""

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("mailbox", String(320), nullable=False),
    Column("dedup_key", String(128), nullable=False),
    Column("email_message_id", String(998), nullable=True),
    Column("recipients", JSON, nullable=False),
    Column("source", String(16), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("ticket_id", String(64), nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("processed_at", UtcDateTime, nullable=True),
    # SHA-256 of the mail without its transport headers: one Message-ID may carry other content.
    Column("content_sha256", String(64), nullable=False),
    UniqueConstraint(
        "tenant_id", "dedup_key", "content_sha256", name="uq_inbound_tenant_dedup_content"
    ),
    Index("ix_inbound_status", "status", "received_at"),
)
"""Every accepted mail, raw, stored before it is answered; status pending/processed/quarantined."""

domains = Table(
    "domains",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(253), nullable=False),
    Column("status", String(16), nullable=False),
    Column("token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("verified_at", UtcDateTime, nullable=True),
    UniqueConstraint("tenant_id", "name", name="uq_domains_tenant_name"),
    # One tenant at most holds a domain verified; others may only have it pending.
    Index(
        "uq_domains_verified_name",
        "name",
        unique=True,
        sqlite_where=text("status = 'verified'"),
        postgresql_where=text("status = 'verified'"),
    ),
)
"""Mail domains of each tenant; mailbox addresses must be in a domain verified by their tenant."""

organizations = Table(
    "organizations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("plan", String(32), nullable=False),
    Column("domains", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

organization_domains = Table(
    "organization_domains",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("domain", String(253), primary_key=True),
    Column("organization_id", String(64), primary_key=True),
)
"""The mail domains each organisation claims (lower-cased), to find a first contact's by index."""

requesters = Table(
    "requesters",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=True),
    Column("organization_id", String(64), nullable=True),
    Column("language", String(16), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("tenant_id", "email", name="uq_requesters_tenant_email"),
)

people = Table(
    "people",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Index("ix_people_tenant_email", "tenant_id", "email"),
)
"""The tenant's users as identity's events describe them (to know mail from an agent's address)."""

idempotent_requests = idempotency_table(metadata)
