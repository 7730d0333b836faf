"""Tenant configuration: versioned rule sets, routing settings and organisations."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_routing.adapters.orm import organizations, rule_sets, tenant_settings
from helpline_routing.domain.rules import Conditions, OptionalSkill, Outcome, Rule, RuleSet
from helpline_routing.domain.tickets import TenantSettings


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


class ConfigRepository:
    """Rule sets (append-only versions), settings and organisations of each tenant.

    The current rules and the settings are read once per transaction (a batch of events reads
    them once, not per event) and forgotten when the transaction changes them.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rules: dict[str, tuple[RuleSet, dict[str, Any] | None]] = {}
        self._settings: dict[str, TenantSettings] = {}

    async def rules(
        self, tenant_id: str, version: int | None = None
    ) -> tuple[RuleSet, dict[str, Any] | None]:
        """The current (or given) rule set and its stored form (None: the built-in default)."""
        if version is None:
            current = self._rules.get(tenant_id)
            if current is None:
                current = self._rules[tenant_id] = await self._read_rules(tenant_id, None)
            return current
        return await self._read_rules(tenant_id, version)

    async def _read_rules(
        self, tenant_id: str, version: int | None
    ) -> tuple[RuleSet, dict[str, Any] | None]:
        query = select(rule_sets).where(rule_sets.c.tenant_id == tenant_id)
        query = (
            query.where(rule_sets.c.version == version)
            if version is not None
            else query.order_by(rule_sets.c.version.desc()).limit(1)
        )
        row = (await self._session.execute(query)).first()
        if row is None:
            return RuleSet(), None
        return rule_set_from(row.version, row.rules), dict(row.rules)

    async def add_rules(self, tenant_id: str, data: dict[str, Any], now: datetime) -> int:
        """Store a new version of the tenant's rules; return its number."""
        self._rules.pop(tenant_id, None)
        latest = (
            await self._session.execute(
                select(func.max(rule_sets.c.version)).where(rule_sets.c.tenant_id == tenant_id)
            )
        ).scalar()
        version = (latest or 0) + 1
        await self._session.execute(
            insert(rule_sets).values(
                tenant_id=tenant_id, version=version, rules=data, created_at=now
            )
        )
        return version

    async def settings(self, tenant_id: str) -> TenantSettings:
        """The tenant's settings (defaults when never set)."""
        settings = self._settings.get(tenant_id)
        if settings is None:
            row = (
                await self._session.execute(
                    select(tenant_settings.c.settings).where(
                        tenant_settings.c.tenant_id == tenant_id
                    )
                )
            ).first()
            settings = self._settings[tenant_id] = (
                settings_from(row.settings) if row else TenantSettings()
            )
        return settings

    async def save_settings(self, tenant_id: str, data: dict[str, Any]) -> None:
        """Replace the tenant's settings."""
        self._settings.pop(tenant_id, None)
        result = await self._session.execute(
            update(tenant_settings)
            .where(tenant_settings.c.tenant_id == tenant_id)
            .values(settings=data)
        )
        if not getattr(result, "rowcount", 0):
            await self._session.execute(
                insert(tenant_settings).values(tenant_id=tenant_id, settings=data)
            )

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
        result = await self._session.execute(
            update(organizations)
            .where(
                organizations.c.tenant_id == tenant_id,
                organizations.c.organization_id == organization_id,
            )
            .values(account_manager_id=agent_id)
        )
        if not getattr(result, "rowcount", 0):
            await self._session.execute(
                insert(organizations).values(
                    tenant_id=tenant_id,
                    organization_id=organization_id,
                    account_manager_id=agent_id,
                )
            )
