"""A received mail's record: stored raw first, then processed or quarantined."""

import hashlib
from dataclasses import dataclass
from datetime import datetime

PENDING = "pending"
PROCESSED = "processed"
DUPLICATE = "duplicate"
QUARANTINED = "quarantined"


@dataclass
class InboundRecord:
    """One stored mail for one tenant; the same key and content again is a no-op delivery."""

    id: str
    tenant_id: str
    mailbox: str
    dedup_key: str
    email_message_id: str | None
    recipients: list[str]
    source: str
    size: int
    status: str
    reason: str | None
    ticket_id: str | None
    received_at: datetime
    content_sha256: str
    """Of the mail without transport headers: a reused Message-ID with new content is new mail."""
    processed_at: datetime | None = None


def dedup_key(email_message_id: str | None, fingerprint: bytes) -> str:
    """``mid:<sha256 of Message-ID>``, or ``sha:<sha256 of the content>`` for mail without one."""
    if email_message_id:
        return "mid:" + hashlib.sha256(email_message_id.encode()).hexdigest()
    return "sha:" + hashlib.sha256(fingerprint).hexdigest()
