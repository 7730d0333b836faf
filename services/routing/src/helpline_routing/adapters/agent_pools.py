"""The tenants' agent pools kept in memory, checked against a version the database keeps.

Every commit that changes one of a tenant's agents bumps the tenant's row in
``agent_pool_versions`` (one statement, just before the commit). A transaction reads that
version once per tenant before its first decision; when it is not the version the cached pool
was built at, another replica changed the agents and the pool is rebuilt from the database.
This process's own changes are applied to the cached pool as they are made, and the pool keeps
them after the commit only if no other writer came in between (else it is rebuilt next time).
Capacity stays guarded by the database's conditional update: a stale pool can only rank badly.

The same row keeps ``config_version``, bumped by every commit that changes the tenant's rules or
settings, which ``ConfigRepository`` checks its cached configuration against: the one statement
that reads the pool's version reads it too.
"""

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_routing.adapters.agents import PoolChange
from helpline_routing.adapters.orm import agent_pool_versions
from helpline_routing.domain.engine import AgentPool
from helpline_routing.domain.model import Agent
from helpline_shared.runtime.db import dialect_insert

Loader = Callable[[str], Awaitable[list[Agent]]]
"""Loads every agent of a tenant from the database."""


@dataclass
class _Cached:
    pool: AgentPool
    version: int


class AgentPools:
    """The agent pools of one database, shared by every unit of work on it."""

    def __init__(self) -> None:
        self._cached: dict[str, _Cached] = {}

    def get(self, tenant_id: str) -> _Cached | None:
        """The tenant's cached pool and the version it is at, if cached."""
        return self._cached.get(tenant_id)

    def put(self, tenant_id: str, cached: _Cached) -> None:
        """Cache a pool just built."""
        self._cached[tenant_id] = cached

    def forget(self, tenant_id: str) -> None:
        """Drop the tenant's pool: the next transaction rebuilds it."""
        self._cached.pop(tenant_id, None)


_VERSIONS = select(agent_pool_versions.c.version, agent_pool_versions.c.config_version).where(
    agent_pool_versions.c.tenant_id == bindparam("tenant_id")
)


@functools.cache
def _bump(dialect: str, pool: bool, config: bool) -> Any:
    """The upsert that bumps a tenant's versions, built once per dialect and kind."""
    table = agent_pool_versions
    insert = dialect_insert(dialect)
    values = {"version": int(pool), "config_version": int(config)}
    bumped = {
        column: table.c[column] + 1
        for column, changed in (("version", pool), ("config_version", config))
        if changed
    }
    return (
        insert(table)
        .values(tenant_id=bindparam("b_tenant_id"), **values)
        .on_conflict_do_update(index_elements=[table.c.tenant_id], set_=bumped)
        .returning(table.c.version)
    )


class PoolTransaction:
    """One transaction's use of the pools: which it checked, which it changed."""

    def __init__(self, pools: AgentPools, session: AsyncSession, load: Loader) -> None:
        self._pools = pools
        self._session = session
        self._load = load
        self._checked: dict[str, _Cached] = {}
        self._changed: dict[str, _Cached | None] = {}
        self._rebuild: set[str] = set()
        self._versions: dict[str, tuple[int, int]] = {}
        self._config_changed: set[str] = set()

    async def versions(self, tenant_id: str) -> tuple[int, int]:
        """The tenant's pool and configuration versions, read once per transaction."""
        versions = self._versions.get(tenant_id)
        if versions is None:
            row = (await self._session.execute(_VERSIONS, {"tenant_id": tenant_id})).first()
            versions = self._versions[tenant_id] = (
                (int(row.version), int(row.config_version)) if row else (0, 0)
            )
        return versions

    async def config_version(self, tenant_id: str) -> int:
        """The tenant's configuration version (read with the pool's, once per transaction)."""
        return (await self.versions(tenant_id))[1]

    def config_changed(self, tenant_id: str) -> None:
        """The tenant's rules or settings changed here: bump its configuration version."""
        self._config_changed.add(tenant_id)

    async def pool(self, tenant_id: str) -> AgentPool:
        """The tenant's pool, checked against the database's version once per transaction."""
        cached = self._pools.get(tenant_id)
        if cached is None or self._checked.get(tenant_id) is not cached:
            version = (await self.versions(tenant_id))[0]
            if cached is None or cached.version != version:
                cached = _Cached(AgentPool(await self._load(tenant_id)), version)
                self._pools.put(tenant_id, cached)
            self._checked[tenant_id] = cached
        return cached.pool

    def changed(self, tenant_id: str, change: PoolChange | None) -> None:
        """The tenant's agents changed in this transaction: apply ``change`` to the cached pool
        now (later decisions of the transaction see it); None: rebuild the pool instead."""
        cached = self._pools.get(tenant_id)
        first = self._changed.setdefault(tenant_id, cached)
        if change is None or cached is None or first is not cached:
            self._rebuild.add(tenant_id)
            self._pools.forget(tenant_id)
            return
        try:
            change(cached.pool)
        except KeyError:  # an agent the pool does not know yet
            self._rebuild.add(tenant_id)
            self._pools.forget(tenant_id)

    async def bump(self) -> dict[str, int]:
        """Bump the versions of every tenant changed here; their new pool versions."""
        if not self._changed and not self._config_changed:
            return {}
        dialect = self._session.get_bind().dialect.name
        versions = {}
        for tenant_id in sorted({*self._changed, *self._config_changed}):
            pool = tenant_id in self._changed
            result = await self._session.execute(
                _bump(dialect, pool, tenant_id in self._config_changed), {"b_tenant_id": tenant_id}
            )
            version = int(result.scalar_one())
            if pool:
                versions[tenant_id] = version
        return versions

    def committed(self, versions: dict[str, int]) -> None:
        """Keep the changed pools at their new versions if nobody else wrote in between."""
        for tenant_id, version in versions.items():
            cached = self._pools.get(tenant_id)
            if (
                tenant_id in self._rebuild
                or cached is None
                or cached is not self._changed.get(tenant_id)
                or cached.version + 1 != version
            ):
                self._pools.forget(tenant_id)
            else:
                cached.version = version
        self._reset()

    def rolled_back(self) -> None:
        """Forget the pools this transaction changed: they hold changes that never happened."""
        for tenant_id in self._changed:
            self._pools.forget(tenant_id)
        self._reset()

    def _reset(self) -> None:
        self._checked, self._changed, self._rebuild = {}, {}, set()
        self._versions, self._config_changed = {}, set()
