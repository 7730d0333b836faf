"""The people, teams and tenant names notify learnt from identity, and who watches which ticket."""

import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_notify.adapters.ledger import RECENT_EMAILS, DeliveryRepository
from helpline_notify.adapters.orm import (
    people,
    routing_agents,
    suppressions,
    teams,
    tenants,
    ticket_watchers,
)
from helpline_notify.adapters.repository import ReadMemo, upsert_dialect
from helpline_notify.adapters.settings_versions import SettingsVersions
from helpline_notify.adapters.statements import ONE_ROW, dialect_name, upsert
from helpline_notify.adapters.tenant_config import SuppressionRepository
from helpline_notify.domain.people import Person

_PERSON = select(people).where(
    people.c.tenant_id == bindparam("tenant_id"), people.c.user_id == bindparam("user_id")
)
_PERSON_BY_EMAIL = (
    select(people)
    .where(
        people.c.tenant_id == bindparam("tenant_id"),
        people.c.email == func.lower(bindparam("email")),
    )
    .order_by(people.c.active.desc(), people.c.user_id)
)
_RECIPIENT = (
    select(
        people,
        select(suppressions.c.reason)
        .where(
            suppressions.c.tenant_id == bindparam("tenant_id"),
            suppressions.c.address == func.lower(bindparam("email")),
        )
        .scalar_subquery()
        .label("suppressed"),
    )
    .select_from(
        ONE_ROW.outerjoin(
            people,
            and_(
                people.c.tenant_id == bindparam("tenant_id"),
                people.c.email == func.lower(bindparam("email")),
            ),
        )
    )
    .order_by(people.c.active.desc(), people.c.user_id)
    .limit(1)
)
"""``_PERSON_BY_EMAIL``'s first row and the address's suppression, in one statement (one row
whether or not a person has the address)."""
_RECIPIENT_AND_RECENT = _RECIPIENT.add_columns(RECENT_EMAILS)
"""The same, with how much mail the address got lately (the loop cap's count)."""
_LEADS = (
    select(people)
    .where(
        people.c.tenant_id == bindparam("tenant_id"),
        people.c.role == "lead",
        people.c.active.is_(True),
    )
    .order_by(people.c.user_id)
)
_TEAM_DELETED = select(teams.c.deleted).where(
    teams.c.tenant_id == bindparam("tenant_id"), teams.c.team_id == bindparam("team_id")
)
_AGENT = select(routing_agents).where(
    routing_agents.c.tenant_id == bindparam("tenant_id"),
    routing_agents.c.agent_id == bindparam("agent_id"),
)
_TENANT_NAME = select(tenants.c.name).where(tenants.c.tenant_id == bindparam("tenant_id"))
_WATCHERS = (
    select(ticket_watchers)
    .where(
        ticket_watchers.c.tenant_id == bindparam("tenant_id"),
        ticket_watchers.c.ticket_id == bindparam("ticket_id"),
    )
    .order_by(ticket_watchers.c.added_at, ticket_watchers.c.user_id)
)


AGENTS_KEPT = 10_000
"""How many agents' saved names and addresses a process keeps (then it starts over)."""
_SAVED_AGENTS: "weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[str, str]]]" = (
    weakref.WeakKeyDictionary()
)


def saved_agents(session: AsyncSession) -> dict[tuple[str, str], tuple[str, str]]:
    """The agents (tenant, agent id) whose name and address this process committed to the
    database of ``session``, with those values (one store per engine)."""
    engine = session.get_bind()
    saved = _SAVED_AGENTS.get(engine)
    if saved is None:
        saved = _SAVED_AGENTS[engine] = {}
    return saved


def _person(row: Any) -> Person:
    return Person(
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        name=row.name,
        email=row.email,
        role=row.role,
        teams=tuple(row.teams or ()),
        active=row.active,
    )


class DirectoryRepository:
    """People, teams and tenant names per tenant (identity is the source of truth)."""

    def __init__(
        self,
        session: AsyncSession,
        after_commit: Callable[[Callable[[], None]], None] | None = None,
        versions: SettingsVersions | None = None,
    ) -> None:
        self._session = session
        self._memo = ReadMemo()
        self._after_commit = after_commit
        self._versions = versions
        """The tenants' settings versions: a change of people gives a new one (``recipient``
        keeps what it read per version)."""

    async def _people_changed(self, tenant_id: str) -> None:
        self._memo.forget()
        if self._versions is not None:
            await self._versions.changed(tenant_id)

    async def save_person(self, person: Person) -> None:
        """Create or replace a person."""
        await self._people_changed(person.tenant_id)
        values = {
            "name": person.name[:200],
            "email": person.email.lower(),
            "role": person.role,
            "teams": list(person.teams),
            "active": person.active,
        }
        statement = (
            upsert_dialect(self._session)
            .insert(people)
            .values(tenant_id=person.tenant_id, user_id=person.user_id, **values)
        )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=["tenant_id", "user_id"], set_=values)
        )

    async def deactivate(self, tenant_id: str, user_id: str) -> None:
        """Mark a person deactivated (kept, so that their address is known to receive nothing)."""
        await self._people_changed(tenant_id)
        await self._session.execute(
            update(people)
            .where(people.c.tenant_id == tenant_id, people.c.user_id == user_id)
            .values(active=False)
        )

    async def person(self, tenant_id: str, user_id: str) -> Person | None:
        """The tenant's person with that id, if known."""
        return await self._memo.get(
            ("person", tenant_id, user_id), lambda: self._read_person(tenant_id, user_id)
        )

    async def _read_person(self, tenant_id: str, user_id: str) -> Person | None:
        row = (
            await self._session.execute(_PERSON, {"tenant_id": tenant_id, "user_id": user_id})
        ).first()
        return _person(row) if row else None

    async def by_email(self, tenant_id: str, email: str) -> Person | None:
        """The tenant's person with that address, if known (an active one first)."""
        return await self._memo.get(
            ("by_email", tenant_id, email), lambda: self._read_by_email(tenant_id, email)
        )

    async def recipient(
        self, tenant_id: str, email: str, suppressions: SuppressionRepository
    ) -> tuple[Person | None, str | None]:
        """The person with that address (as ``by_email``) and why mail to it is suppressed
        (as ``suppressions.reason``): one statement when this transaction read neither, none
        when this process read both at the tenant's settings version this transaction holds
        (every change of people and suppressions gives the tenant a new version: a burst mails
        thousands of assignments to a few agents)."""
        key = ("by_email", tenant_id, email)
        if self._memo.holds(key) or suppressions.holds(tenant_id, email):
            return await self.by_email(tenant_id, email), await suppressions.reason(
                tenant_id, email
            )
        version = self._versions.held(tenant_id) if self._versions is not None else None
        kept_key = ("recipient", email)
        if version is not None:
            assert self._versions is not None
            found, kept = self._versions.known_at(tenant_id, version, kept_key)
            if found:
                person, suppressed = kept
                self._memo.put(key, person)
                suppressions.hold(tenant_id, email, suppressed)
                return person, suppressed
        row = (
            await self._session.execute(_RECIPIENT, {"tenant_id": tenant_id, "email": email})
        ).one()
        person = _person(row) if row.user_id is not None else None
        self._memo.put(key, person)
        suppressions.hold(tenant_id, email, row.suppressed)
        if version is not None:
            assert self._versions is not None
            self._versions.keep_at(tenant_id, version, kept_key, (person, row.suppressed))
        return person, row.suppressed

    async def capped_recipient(
        self,
        tenant_id: str,
        email: str,
        suppressions: SuppressionRepository,
        deliveries: DeliveryRepository,
        since: datetime,
        up_to: int,
    ) -> tuple[Person | None, str | None, int]:
        """``recipient`` and the address's ``deliveries.recent_email_count`` (``since``,
        ``up_to``), in one statement when this transaction read neither."""
        key = ("by_email", tenant_id, email)
        if self._memo.holds(key) or suppressions.holds(tenant_id, email):
            person, reason = await self.recipient(tenant_id, email, suppressions)
            recent = await deliveries.recent_email_count(tenant_id, email, since, up_to)
            return person, reason, recent
        await deliveries.flush_counted(tenant_id, email, since)
        row = (
            await self._session.execute(
                _RECIPIENT_AND_RECENT,
                {
                    "tenant_id": tenant_id,
                    "email": email,
                    "address": email.lower(),
                    "since": since,
                    "up_to": up_to,
                },
            )
        ).one()
        person = _person(row) if row.user_id is not None else None
        self._memo.put(key, person)
        suppressions.hold(tenant_id, email, row.suppressed)
        return person, row.suppressed, int(row.recent_emails or 0)

    async def _read_by_email(self, tenant_id: str, email: str) -> Person | None:
        row = (
            await self._session.execute(_PERSON_BY_EMAIL, {"tenant_id": tenant_id, "email": email})
        ).first()
        return _person(row) if row else None

    async def people(self, tenant_id: str, user_ids: list[str] | None = None) -> list[Person]:
        """The tenant's people (or those of ``user_ids``), by id."""
        if user_ids is not None and not user_ids:
            return []
        query = select(people).where(people.c.tenant_id == tenant_id)
        if user_ids is not None:
            query = query.where(people.c.user_id.in_(user_ids))
        rows = await self._session.execute(query.order_by(people.c.user_id))
        return [_person(row) for row in rows]

    async def leads(self, tenant_id: str) -> list[Person]:
        """The tenant's active leads."""
        return list(await self._memo.get(("leads", tenant_id), lambda: self._read_leads(tenant_id)))

    async def _read_leads(self, tenant_id: str) -> list[Person]:
        rows = await self._session.execute(_LEADS, {"tenant_id": tenant_id})
        return [_person(row) for row in rows]

    async def save_team(self, tenant_id: str, team_id: str, name: str, deleted: bool) -> None:
        """Create, rename or delete a team."""
        self._memo.forget()
        values = {"name": name[:200], "deleted": deleted}
        statement = (
            upsert_dialect(self._session)
            .insert(teams)
            .values(tenant_id=tenant_id, team_id=team_id, **values)
        )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=["tenant_id", "team_id"], set_=values)
        )

    async def team_deleted(self, tenant_id: str, team_id: str) -> bool:
        """Whether identity deleted the team."""
        return await self._memo.get(
            ("team_deleted", tenant_id, team_id),
            lambda: self._read_team_deleted(tenant_id, team_id),
        )

    async def _read_team_deleted(self, tenant_id: str, team_id: str) -> bool:
        return bool(
            await self._session.scalar(_TEAM_DELETED, {"tenant_id": tenant_id, "team_id": team_id})
        )

    async def save_agent(self, tenant_id: str, agent_id: str, name: str, email: str) -> None:
        """Remember routing's agent by the name and address its events give: no statement when
        this transaction already knows them so, nor when this process committed them so (a
        burst assigns thousands of tickets to a few agents). The row only stands in for an
        account manager identity has not announced; another replica's later write of other
        values for the agent stays until an event of this process gives other values again."""
        values = {"name": name[:200], "email": email.lower()}
        key = ("agent", tenant_id, agent_id)
        known = (values["name"], values["email"])
        saved = saved_agents(self._session)
        if self._memo.known(key) == known or saved.get((tenant_id, agent_id)) == known:
            return
        self._memo.forget()
        statement = upsert(
            dialect_name(self._session), routing_agents, ["tenant_id", "agent_id"], values
        )
        await self._session.execute(
            statement, {"tenant_id": tenant_id, "agent_id": agent_id, **values}
        )
        self._memo.put(key, known)
        if self._after_commit is not None:
            self._after_commit(lambda: _keep_saved(saved, (tenant_id, agent_id), known))

    async def agent(self, tenant_id: str, agent_id: str) -> tuple[str, str] | None:
        """Routing's agent as (name, address), if an event named them."""
        return await self._memo.get(
            ("agent", tenant_id, agent_id), lambda: self._read_agent(tenant_id, agent_id)
        )

    async def _read_agent(self, tenant_id: str, agent_id: str) -> tuple[str, str] | None:
        row = (
            await self._session.execute(_AGENT, {"tenant_id": tenant_id, "agent_id": agent_id})
        ).first()
        return (row.name, row.email) if row else None

    async def save_tenant_name(self, tenant_id: str, name: str) -> None:
        """Remember the tenant's display name."""
        self._memo.forget()
        statement = (
            upsert_dialect(self._session)
            .insert(tenants)
            .values(tenant_id=tenant_id, name=name[:200])
        )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=["tenant_id"], set_={"name": name[:200]})
        )

    async def forget_tenant(self, tenant_id: str) -> None:
        """Delete what notify knows of a deleted tenant's people, teams, agents and watchers."""
        await self._people_changed(tenant_id)
        saved = saved_agents(self._session)
        _forget_saved(saved, tenant_id)
        if self._after_commit is not None:  # after any save of this transaction's is kept
            self._after_commit(lambda: _forget_saved(saved, tenant_id))
        for table in (people, teams, tenants, routing_agents, ticket_watchers):
            await self._session.execute(delete(table).where(table.c.tenant_id == tenant_id))

    async def tenant_name(self, tenant_id: str) -> str | None:
        """The tenant's display name, if identity announced it."""
        return await self._memo.get(
            ("tenant_name", tenant_id), lambda: self._read_tenant_name(tenant_id)
        )

    async def _read_tenant_name(self, tenant_id: str) -> str | None:
        name: str | None = await self._session.scalar(_TENANT_NAME, {"tenant_id": tenant_id})
        return name


class WatcherRepository:
    """Who watches which ticket."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._memo = ReadMemo()

    async def add(self, tenant_id: str, ticket_id: str, user_id: str, now: datetime) -> None:
        """Make a user watch a ticket (watching twice is watching)."""
        self._memo.forget()
        statement = (
            upsert_dialect(self._session)
            .insert(ticket_watchers)
            .values(tenant_id=tenant_id, ticket_id=ticket_id, user_id=user_id, added_at=now)
        )
        await self._session.execute(statement.on_conflict_do_nothing())

    async def remove(self, tenant_id: str, ticket_id: str, user_id: str) -> bool:
        """Stop a user watching a ticket; False if they did not."""
        self._memo.forget()
        result = await self._session.execute(
            delete(ticket_watchers).where(
                ticket_watchers.c.tenant_id == tenant_id,
                ticket_watchers.c.ticket_id == ticket_id,
                ticket_watchers.c.user_id == user_id,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def of_ticket(self, tenant_id: str, ticket_id: str) -> list[tuple[str, datetime]]:
        """The ticket's watchers as (user id, since), oldest first."""
        return list(
            await self._memo.get(
                ("of_ticket", tenant_id, ticket_id),
                lambda: self._read_watchers(tenant_id, ticket_id),
            )
        )

    async def _read_watchers(self, tenant_id: str, ticket_id: str) -> list[tuple[str, datetime]]:
        rows = await self._session.execute(
            _WATCHERS, {"tenant_id": tenant_id, "ticket_id": ticket_id}
        )
        return [(row.user_id, row.added_at) for row in rows]


def _keep_saved(
    saved: dict[tuple[str, str], tuple[str, str]], key: tuple[str, str], values: tuple[str, str]
) -> None:
    if len(saved) >= AGENTS_KEPT:
        saved.clear()
    saved[key] = values


def _forget_saved(saved: dict[tuple[str, str], tuple[str, str]], tenant_id: str) -> None:
    for key in [key for key in saved if key[0] == tenant_id]:
        del saved[key]
