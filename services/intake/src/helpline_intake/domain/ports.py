"""Capabilities intake needs from the outside world, named by what they do."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StoredFile:
    """Where an attachment's bytes are and what they are."""

    key: str
    size: int
    sha256: str


class AttachmentStore(Protocol):
    """Keeps attachment bytes (a local directory by default, an object store in production)."""

    async def put(self, tenant_id: str, data: bytes) -> StoredFile:
        """Store ``data`` for ``tenant_id`` (content-addressed: equal bytes are stored once)."""

    async def get(self, tenant_id: str, key: str) -> bytes:
        """The bytes stored under ``key``; ``KeyError`` if there are none."""


class DomainOwnership(Protocol):
    """Tells whether a domain's owner published its verification record."""

    async def proven(self, record_name: str, record_value: str) -> bool:
        """True when ``record_name`` has a TXT record equal to ``record_value``."""
