"""A tenant's configuration kept across transactions, checked against its configuration version.

A service keeps what it read of a tenant's configuration (rules, settings, policies) with the
version the configuration had when it was read. A transaction reads the current version (one
cheap statement, or none when it rides along another) and reads the configuration again only
when the version moved. Every change moves the version in the transaction that makes it, so a
change committed by another replica is seen by this replica's next transaction, as when the
configuration was read every time. A transaction that changes a tenant's configuration keeps
nothing of it across transactions (it is not committed yet).

How a service stores the version is its own: any value that differs after every change
(routing: a counter bumped by each change; escalation: the number of policy versions, which
are only ever added; a random token written by each change would do as well).
"""

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

ValueT = TypeVar("ValueT")

ReadVersion = Callable[[str], Awaitable[Hashable | None]]
"""The tenant's configuration version now (None: keep nothing across transactions)."""


class ConfigCache(Generic[ValueT]):
    """One kind of configuration of each tenant, kept with the version it was read at (one per
    database, shared by the units of work on it)."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Hashable, ValueT]] = {}

    def kept(self, tenant_id: str, version: Hashable) -> tuple[Hashable, ValueT] | None:
        """The tenant's value and its version, if it was read at ``version``."""
        kept = self._kept.get(tenant_id)
        return kept if kept is not None and kept[0] == version else None

    def keep(self, tenant_id: str, version: Hashable, value: ValueT) -> None:
        """Keep ``value``, read at ``version`` (or later: then it is read again next time)."""
        self._kept[tenant_id] = (version, value)

    def forget(self, tenant_id: str) -> None:
        """Drop what is kept of the tenant: the next transaction reads it again."""
        self._kept.pop(tenant_id, None)


class ConfigReads(Generic[ValueT]):
    """One transaction's reads of one kind of tenant configuration: each tenant's read once,
    from ``cache`` when the version it was kept at is still the tenant's."""

    def __init__(self, cache: ConfigCache[ValueT], version: ReadVersion) -> None:
        self._cache = cache
        self._version = version
        self._read: dict[str, ValueT] = {}
        self._changed: set[str] = set()

    def changing(self, tenant_id: str) -> None:
        """This transaction changes the tenant's configuration: read it again, keep nothing."""
        self._read.pop(tenant_id, None)
        self._changed.add(tenant_id)
        self._cache.forget(tenant_id)

    def changed(self, tenant_id: str) -> bool:
        """Whether this transaction changes the tenant's configuration."""
        return tenant_id in self._changed

    async def get(self, tenant_id: str, read: Callable[[str], Awaitable[ValueT]]) -> ValueT:
        """The tenant's value: read in this transaction already, kept at the current version,
        or ``read(tenant_id)`` now (and kept, unless changed here)."""
        if tenant_id in self._read:
            return self._read[tenant_id]
        version = None if tenant_id in self._changed else await self._version(tenant_id)
        kept = self._cache.kept(tenant_id, version) if version is not None else None
        if kept is not None:
            value = kept[1]
        else:
            # Read after the version: at worst newer than it, so read again next time.
            value = await read(tenant_id)
            if version is not None:
                self._cache.keep(tenant_id, version, value)
        self._read[tenant_id] = value
        return value
