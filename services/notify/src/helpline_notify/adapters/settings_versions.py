"""Versions of each tenant's notification settings, and what was read at each, per process.

Subscriptions, webhook endpoints and templates change rarely (through notify's API and the
worker's endpoint health) but every consumed event needs them; so do the people and suppressed
addresses a staff mail's recipient is checked against (changed by identity's events, bounces and
the API), which are versioned with them. Each change writes a fresh random
token for the tenant in the changing transaction; a transaction reads the token (one statement)
and uses what this process already read under it, instead of reading each kind of setting.
"""

import uuid
import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, TypeVar, cast

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from helpline_notify.adapters.orm import tenant_settings, webhook_endpoints
from helpline_notify.adapters.statements import dialect_name, upsert
from helpline_shared.runtime.db import read_only_options

T = TypeVar("T")

KEPT_PER_VERSION = 10_000
"""How many values (settings, recipients) a process keeps per tenant at one version."""
_SETTINGS_VERSION = select(tenant_settings.c.version).where(
    tenant_settings.c.tenant_id == bindparam("tenant_id")
)
SETTINGS_VERSION_OF_TENANT = _SETTINGS_VERSION.scalar_subquery().label("settings_version")
"""The tenant's settings version as a column of another statement (``tenant_id`` bound)."""
_ENDPOINT_SETTINGS_CHANGED = (
    update(tenant_settings)
    .where(
        tenant_settings.c.tenant_id
        == select(webhook_endpoints.c.tenant_id)
        .where(webhook_endpoints.c.id == bindparam("endpoint_id"))
        .scalar_subquery()
    )
    .values(version=bindparam("version"))
)


class SettingsCache:
    """Each tenant's settings (subscriptions, endpoints, templates) as read at one version of
    them, kept by this process across transactions.

    A version is a random token that every change writes in its own transaction: what was read
    under a token is what any transaction seeing that token reads, whichever replica (or
    process) made the change, so a transaction that reads the token (one statement) may use
    what is kept under it instead of reading each kind of setting again.
    """

    def __init__(self) -> None:
        self._kept: dict[str, tuple[str, dict[Hashable, Any]]] = {}

    def known(self, tenant_id: str, version: str, key: Hashable) -> tuple[bool, Any]:
        """Whether the value under ``key`` is kept at ``version``, and the value."""
        kept = self._kept.get(tenant_id)
        if kept is None or kept[0] != version or key not in kept[1]:
            return False, None
        return True, kept[1][key]

    def drop(self, tenant_id: str, version: str) -> None:
        """Forget what is kept for the tenant if it is kept at ``version``."""
        kept = self._kept.get(tenant_id)
        if kept is not None and kept[0] == version:
            del self._kept[tenant_id]

    def under(self, tenant_id: str, version: str) -> dict[Hashable, Any]:
        """What is kept for the tenant at ``version`` (a fresh store when it changed)."""
        kept = self._kept.get(tenant_id)
        if kept is None or kept[0] != version:
            kept = self._kept[tenant_id] = (version, {})
        return kept[1]


_CACHES: "weakref.WeakKeyDictionary[Any, SettingsCache]" = weakref.WeakKeyDictionary()


def settings_cache(session: AsyncSession) -> SettingsCache:
    """The cache of the database behind ``session`` (one per engine: a test's fresh database
    never sees another's)."""
    return cache_of(session.get_bind())


def cache_of(engine: Any) -> SettingsCache:
    """The cache of the database of ``engine`` (a synchronous ``Engine``)."""
    cache = _CACHES.get(engine)
    if cache is None:
        cache = _CACHES[engine] = SettingsCache()
    return cache


_NO_VERSION = object()


async def versions_now(engine: AsyncEngine, tenant_ids: Iterable[str]) -> dict[str, str | None]:
    """The tenants' settings versions as committed now, read on a connection of its own that
    takes no write lock (no session, no unit of work: about half the CPU of a read-only one)."""
    versions: dict[str, str | None] = {}
    async with engine.connect() as connection:
        options = read_only_options(engine.dialect.name)
        connection = await connection.execution_options(**options)
        for tenant_id in dict.fromkeys(tenant_ids):
            versions[tenant_id] = (
                await connection.execute(_SETTINGS_VERSION, {"tenant_id": tenant_id})
            ).scalar()
    return versions


class SettingsVersions:
    """One transaction's view of the tenants' settings versions: read once, renewed by its own
    changes (which go through ``changed``)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._read: dict[str, str | None] = {}
        self._written: set[str] = set()
        """The tenants whose version in ``_read`` this transaction wrote."""
        self._cache: SettingsCache | None = None

    async def version(self, tenant_id: str) -> str | None:
        """The tenant's settings version (None: nothing was ever set)."""
        if tenant_id not in self._read:
            self._read[tenant_id] = await self._session.scalar(
                _SETTINGS_VERSION, {"tenant_id": tenant_id}
            )
        return self._read[tenant_id]

    def holds(self, tenant_id: str) -> bool:
        """Whether this transaction read (or wrote) the tenant's settings version already."""
        return tenant_id in self._read

    def hold(self, tenant_id: str, version: str | None) -> None:
        """Keep the version another statement of this transaction read."""
        self._read[tenant_id] = version
        self._written.discard(tenant_id)

    async def changed(self, tenant_id: str) -> None:
        """Give the tenant's settings a new version (this transaction changed them). Once per
        transaction: the version it wrote is seen by no one else before it commits, so a later
        change of the same transaction only drops what this process kept under it (a batch of
        identity's events changes people again and again)."""
        version = self._read.get(tenant_id)
        if version is not None and tenant_id in self._written:
            self._settings_cache().drop(tenant_id, version)
            return
        version = uuid.uuid4().hex
        await self._session.execute(
            upsert(dialect_name(self._session), tenant_settings, ["tenant_id"], ["version"]),
            {"tenant_id": tenant_id, "version": version},
        )
        self._read[tenant_id] = version
        self._written.add(tenant_id)

    async def endpoint_changed(self, endpoint_id: str) -> None:
        """Give a new version to the settings of the endpoint's tenant."""
        await self._session.execute(
            _ENDPOINT_SETTINGS_CHANGED, {"endpoint_id": endpoint_id, "version": uuid.uuid4().hex}
        )
        self._read.clear()
        self._written.clear()

    def held(self, tenant_id: str) -> str | None:
        """The tenant's settings version this transaction read (or wrote), without a statement;
        None when it holds none (or nothing was ever set)."""
        return self._read.get(tenant_id)

    def known_at(self, tenant_id: str, version: str, key: Hashable) -> tuple[bool, Any]:
        """Whether this process keeps a value under ``key`` at the tenant's ``version``, and it."""
        return self._settings_cache().known(tenant_id, version, key)

    def keep_at(self, tenant_id: str, version: str, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key`` at ``version``: what was read while this transaction held
        that version (never more than ``KEPT_PER_VERSION`` values per tenant and version)."""
        store = self._settings_cache().under(tenant_id, version)
        if key in store or len(store) < KEPT_PER_VERSION:
            store[key] = value

    def _settings_cache(self) -> SettingsCache:
        if self._cache is None:
            self._cache = settings_cache(self._session)
        return self._cache

    async def kept(
        self, tenant_id: str, key: Hashable, load: Callable[[], Awaitable[T]], unset: T
    ) -> T:
        """The value under ``key`` at the tenant's current version, loaded once per version;
        ``unset`` when the tenant never set anything."""
        version = await self.version(tenant_id)
        if version is None:
            return unset
        store = self._settings_cache().under(tenant_id, version)
        value = store.get(key, _NO_VERSION)
        if value is _NO_VERSION:
            value = store[key] = await load()
        return cast(T, value)
