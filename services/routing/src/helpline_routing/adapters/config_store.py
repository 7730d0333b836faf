"""Tenant configuration: versioned rule sets, routing settings and organisations."""

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_routing.adapters.orm import organizations, rule_sets, tenant_settings
from helpline_routing.domain.rules import Conditions, OptionalSkill, Outcome, Rule, RuleSet
from helpline_routing.domain.tickets import TenantSettings
from helpline_shared.runtime.config_version import ConfigCache as TenantConfigCache
from helpline_shared.runtime.config_version import ConfigReads
from helpline_shared.runtime.db import dialect_insert


def outcome_from(data: dict[str, Any]) -> Outcome:
    """An outcome from its stored form."""
    return Outcome(
        required_skills=dict(data.get("required_skills", {})),
        optional_skills={
            skill: OptionalSkill(int(wanted["level"]), int(wanted["priority"]))
            for skill, wanted in data.get("optional_skills", {}).items()
        },
        priority=data.get("priority"),
        team=data.get("team"),
        tags_as_skills=bool(data.get("tags_as_skills", False)),
    )


def rule_set_from(version: int, data: dict[str, Any]) -> RuleSet:
    """A rule set from its stored form."""
    rules = tuple(
        Rule(
            id=rule["id"],
            conditions=Conditions(
                **{name: tuple(values) for name, values in rule.get("conditions", {}).items()}
            ),
            outcome=outcome_from(rule.get("outcome", {})),
        )
        for rule in data.get("rules", ())
    )
    default = data.get("default")
    return RuleSet(
        version=version,
        rules=rules,
        default=outcome_from(default) if default else RuleSet().default,
    )


def settings_from(data: dict[str, Any]) -> TenantSettings:
    """Settings from their stored form."""
    known = TenantSettings.__dataclass_fields__
    values = {name: value for name, value in data.items() if name in known}
    if "relaxation_waits_seconds" in values:
        values["relaxation_waits_seconds"] = tuple(values["relaxation_waits_seconds"])
    if "load_statuses" in values:
        values["load_statuses"] = frozenset(values["load_statuses"])
    return TenantSettings(**values)


Rules = tuple[RuleSet, dict[str, Any] | None]
"""A rule set and its stored form (None: the built-in default)."""


_CURRENT_RULES = (
    select(rule_sets)
    .where(rule_sets.c.tenant_id == bindparam("tenant_id"))
    .order_by(rule_sets.c.version.desc())
    .limit(1)
)
_SETTINGS = select(tenant_settings.c.settings).where(
    tenant_settings.c.tenant_id == bindparam("tenant_id")
)


class ConfigCache:
    """The current rules and settings of each tenant, kept across transactions with the
    configuration version they were read at (one per database, shared by its units of work)."""

    def __init__(self) -> None:
        self.rules: TenantConfigCache[Rules] = TenantConfigCache()
        self.settings: TenantConfigCache[TenantSettings] = TenantConfigCache()


class _NotCached:
    """The configuration version of no cache: nothing is kept across transactions."""

    async def config_version(self, tenant_id: str) -> int:
        return -1

    def config_changed(self, tenant_id: str) -> None:
        pass


class Versions(Protocol):
    """Where a transaction reads the tenant's configuration version, and says it changed it."""

    async def config_version(self, tenant_id: str) -> int:
        """The tenant's configuration version (read once per transaction)."""

    def config_changed(self, tenant_id: str) -> None:
        """This transaction changed the tenant's rules or settings."""


class ConfigRepository:
    """Rule sets (append-only versions), settings and organisations of each tenant.

    The current rules and the settings are read once per transaction (a batch of events reads
    them once, not per event). Across transactions they are kept in ``cache`` with the tenant's
    configuration version, which every commit that changes them bumps (``versions``): a
    transaction reads that version (with the agent pool's, in one statement) and reads the rules
    or settings again only when it moved, so another replica's change is seen by the next
    transaction here, as when they were read every time.
    """

    def __init__(
        self,
        session: AsyncSession,
        cache: ConfigCache | None = None,
        versions: Versions | None = None,
    ) -> None:
        self._session = session
        cache = cache or ConfigCache()
        self._versions: Versions = versions or _NotCached()
        self._rules = ConfigReads(cache.rules, self._version)
        self._settings = ConfigReads(cache.settings, self._version)

    def _changing(self, tenant_id: str) -> None:
        self._rules.changing(tenant_id)
        self._settings.changing(tenant_id)
        self._versions.config_changed(tenant_id)

    async def _version(self, tenant_id: str) -> int | None:
        """The version to keep what is read now at; None: keep nothing (no cache)."""
        version = await self._versions.config_version(tenant_id)
        return None if version < 0 else version

    async def rules(
        self, tenant_id: str, version: int | None = None
    ) -> tuple[RuleSet, dict[str, Any] | None]:
        """The current (or given) rule set and its stored form (None: the built-in default)."""
        if version is None:
            return await self._rules.get(tenant_id, self._read_current_rules)
        return await self._read_rules(tenant_id, version)

    async def _read_current_rules(self, tenant_id: str) -> Rules:
        return await self._read_rules(tenant_id, None)

    async def _read_rules(
        self, tenant_id: str, version: int | None
    ) -> tuple[RuleSet, dict[str, Any] | None]:
        if version is None:
            row = (await self._session.execute(_CURRENT_RULES, {"tenant_id": tenant_id})).first()
        else:
            query = select(rule_sets).where(
                rule_sets.c.tenant_id == tenant_id, rule_sets.c.version == version
            )
            row = (await self._session.execute(query)).first()
        if row is None:
            return RuleSet(), None
        return rule_set_from(row.version, row.rules), dict(row.rules)

    async def add_rules(self, tenant_id: str, data: dict[str, Any], now: datetime) -> int:
        """Store a new version of the tenant's rules; return its number.

        The number follows the latest stored. Two concurrent writers (PostgreSQL) may both
        read the same latest: the key refuses the second's row, which then takes the number
        after the one just committed (each refusal means another version was stored).
        """
        self._changing(tenant_id)
        refusal: IntegrityError | None = None
        refused = 0
        while True:
            latest = (
                await self._session.execute(
                    select(func.max(rule_sets.c.version)).where(rule_sets.c.tenant_id == tenant_id)
                )
            ).scalar()
            version = (latest or 0) + 1
            if refusal is not None and version <= refused:
                # No other version was stored since: the row was refused for another reason,
                # which trying again would only repeat.
                raise refusal
            try:
                async with self._session.begin_nested():
                    await self._session.execute(
                        insert(rule_sets).values(
                            tenant_id=tenant_id, version=version, rules=data, created_at=now
                        )
                    )
            except IntegrityError as error:
                refusal, refused = error, version
                continue
            return version

    async def settings(self, tenant_id: str) -> TenantSettings:
        """The tenant's settings (defaults when never set)."""
        return await self._settings.get(tenant_id, self._read_settings)

    async def _read_settings(self, tenant_id: str) -> TenantSettings:
        row = (await self._session.execute(_SETTINGS, {"tenant_id": tenant_id})).first()
        return settings_from(row.settings) if row else TenantSettings()

    async def save_settings(self, tenant_id: str, data: dict[str, Any]) -> None:
        """Replace the tenant's settings."""
        self._changing(tenant_id)
        await self._upsert(tenant_settings, {"tenant_id": tenant_id}, {"settings": data})

    async def account_manager(self, tenant_id: str, organization_id: str) -> str | None:
        """The organisation's dedicated account manager, if any."""
        row = (
            await self._session.execute(
                select(organizations.c.account_manager_id).where(
                    organizations.c.tenant_id == tenant_id,
                    organizations.c.organization_id == organization_id,
                )
            )
        ).first()
        return row.account_manager_id if row else None

    async def set_account_manager(
        self, tenant_id: str, organization_id: str, agent_id: str | None
    ) -> None:
        """Set (or clear) the organisation's account manager."""
        await self._upsert(
            organizations,
            {"tenant_id": tenant_id, "organization_id": organization_id},
            {"account_manager_id": agent_id},
        )

    async def _upsert(self, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
        """Insert the row of ``key`` or replace its ``values``, in one statement: an UPDATE
        then an INSERT let two first writers of one row (PostgreSQL) both insert it, the second
        refused by the key (a 500)."""
        statement = dialect_insert(self._session.get_bind().dialect.name)(table).values(
            **key, **values
        )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=list(key), set_=values)
        )
