"""Domains a tenant proves it owns before it may claim addresses in them."""

from dataclasses import dataclass
from datetime import datetime

PENDING = "pending"
VERIFIED = "verified"
CHALLENGE_LABEL = "_helpline-challenge"
CHALLENGE_PREFIX = "helpline-domain-verification="


@dataclass
class Domain:
    """A mail domain of a tenant: pending until its verification token is proven."""

    id: str
    tenant_id: str
    name: str
    status: str
    token: str
    created_at: datetime
    verified_at: datetime | None = None

    @property
    def record_name(self) -> str:
        """Where the TXT record that proves ownership is published."""
        return f"{CHALLENGE_LABEL}.{self.name}"

    @property
    def record_value(self) -> str:
        """The TXT record's value."""
        return CHALLENGE_PREFIX + self.token


def domain_of(address: str) -> str:
    """The domain of an email address, lower-cased."""
    return address.rsplit("@", 1)[-1].strip().lower()


def normalize_domain(name: str) -> str:
    """A domain name as it is stored: lower-case, without the root dot."""
    return name.strip().lower().rstrip(".")
