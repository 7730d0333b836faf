"""Who writes in and where to: mailboxes, requesters and organisations with a support plan."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from helpline_shared.events import Priority, TicketType

PLANS = ("basic", "standard", "premium", "enterprise")


@dataclass
class Mailbox:
    """A tenant's support address (and aliases) and the ticket defaults mail to it implies."""

    id: str
    tenant_id: str
    address: str
    aliases: list[str]
    priority: Priority
    type: TicketType
    tags: list[str]
    created_at: datetime
    imap: dict[str, Any] | None = None
    """host, port, username, password, folder, move_to, ssl — for mail hosted elsewhere."""
    imap_uidvalidity: int | None = None
    imap_last_uid: int = 0

    @property
    def addresses(self) -> list[str]:
        """The main address and every alias, lower-cased."""
        return [address.lower() for address in (self.address, *self.aliases)]


@dataclass
class Organization:
    """A customer company; its plan drives SLA policies and routing."""

    id: str
    tenant_id: str
    name: str
    plan: str
    domains: list[str]
    created_at: datetime


@dataclass
class RequesterRecord:
    """A customer who writes in, possibly a member of an organisation."""

    id: str
    tenant_id: str
    email: str
    name: str | None
    organization_id: str | None
    language: str | None
    created_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


def base_address(address: str) -> str:
    """``support+token@x`` → ``support@x``, lower-cased (plus-addresses reach the mailbox)."""
    local, _, domain = address.strip().lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"
