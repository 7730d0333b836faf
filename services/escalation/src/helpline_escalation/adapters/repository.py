"""SLA clocks, tickets' facts and policies in the database, always addressed with their tenant.

Each repository lives for one unit of work. Clocks and their cycles are written behind: what a
transaction writes is kept in memory (and read back from there) and ``flush`` writes it in one
statement of each kind (the commit flushes; reading clocks from the database flushes first). A
ticket's clocks read locked, or created here, are not selected again in the same transaction;
nor is a ticket's row, nor the tenant's current policies (read once per transaction, like a
batch of events applied at once).
"""

import functools
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_escalation.adapters.orm import sla_clocks, sla_cycles, sla_policies, sla_tickets
from helpline_escalation.adapters.policy_documents import PolicyDocument
from helpline_escalation.domain.model import SlaClock
from helpline_escalation.domain.policy import SlaPolicy, TicketFacts, moving_statuses
from helpline_shared.runtime.config_version import ConfigCache, ConfigReads
from helpline_shared.runtime.db import (
    dialect_insert,
    unnest_insert,
    unnest_parameters,
    utcnow,
)
from helpline_shared.runtime.uow import OptimisticInserts

_COLUMNS = [field.name for field in fields(SlaClock)]
_KEY = ("tenant_id", "ticket_id", "metric")
# Revision 0001 stored the outcome in ``state``; a stopped clock now says so, met or not.
_LEGACY_STATES = {"met": "stopped", "breached": "running"}


def _clock(row: Any) -> SlaClock:
    values = {name: getattr(row, name) for name in _COLUMNS}
    state = _LEGACY_STATES.get(values["state"], values["state"])
    values["state"] = "stopped" if row.stopped_at is not None else state
    values["resumed_at"] = row.resumed_at or row.started_at
    values["sent"] = tuple(row.sent or ())
    values["history"] = tuple(row.history or ())
    return SlaClock(**values)


def _row(clock: SlaClock) -> dict[str, Any]:
    values = {name: getattr(clock, name) for name in _COLUMNS}
    values["sent"] = list(clock.sent)
    values["history"] = list(clock.history)
    return values


def _cycle_outcome(clock: SlaClock) -> dict[str, Any]:
    return {
        "started_at": clock.started_at,
        "stopped_at": clock.stopped_at,
        "breached_at": clock.breached_at,
        "paused_seconds": clock.paused_seconds,
        "active_seconds": clock.active_seconds,
    }


def _cycle_row(clock: SlaClock) -> dict[str, Any]:
    return {
        "tenant_id": clock.tenant_id,
        "ticket_id": clock.ticket_id,
        "metric": clock.metric,
        "cycle": clock.cycle,
        **_cycle_outcome(clock),
    }


Key = tuple[str, str]
"""A ticket: (tenant, ticket)."""
Known = tuple[TicketFacts, str, int]
"""A ticket's facts, policy id and policy version."""


def _known(row: Any, policy_id: str, policy_version: int) -> Known:
    facts = TicketFacts(
        priority=row.priority,
        type=row.type,
        channel=row.channel,
        plan=row.plan,
        organization_id=row.organization_id,
    )
    return facts, policy_id, policy_version


_SAVE = (
    update(sla_clocks)
    .where(
        sla_clocks.c.tenant_id == bindparam("b_tenant_id"),
        sla_clocks.c.ticket_id == bindparam("b_ticket_id"),
        sla_clocks.c.metric == bindparam("b_metric"),
    )
    .values({name: bindparam(name) for name in _COLUMNS if name not in _KEY})
)


@functools.cache
def _upsert(dialect: str) -> Any:
    """Write a cycle's outcome, built once per dialect."""
    statement = dialect_insert(dialect)(sla_cycles)
    outcome = ("started_at", "stopped_at", "breached_at", "paused_seconds", "active_seconds")
    return statement.on_conflict_do_update(
        index_elements=[sla_cycles.c[name] for name in (*_KEY, "cycle")],
        set_={name: statement.excluded[name] for name in outcome},
    )


_TICKET_FACTS = ("priority", "type", "channel", "plan", "organization_id")


@functools.cache
def _admit(dialect: str) -> Any:
    """Record a new ticket unless it is known, built once per dialect.

    A ticket whose clocks predate revision 0002 has clocks and no row: it is not admitted again
    (its clocks would be started a second time), the same statement checks that.
    """
    names = ("tenant_id", "ticket_id", *_TICKET_FACTS, "policy_id", "policy_version")
    clocks = sla_clocks.c
    return (
        dialect_insert(dialect)(sla_tickets)
        .from_select(
            names,
            select(
                *(bindparam(f"b_{name}", type_=sla_tickets.c[name].type) for name in names)
            ).where(
                ~exists().where(
                    clocks.tenant_id == bindparam("b_tenant_id"),
                    clocks.ticket_id == bindparam("b_ticket_id"),
                )
            ),
        )
        .on_conflict_do_nothing()
    )


_INSERT_CLOCKS = insert(sla_clocks)
_INSERT_TICKETS = insert(sla_tickets)
_LOCKED_WITH_TICKET = (
    select(
        sla_clocks,
        *(sla_tickets.c[name] for name in _TICKET_FACTS),
        sla_tickets.c.policy_id.label("ticket_policy_id"),
        sla_tickets.c.policy_version.label("ticket_policy_version"),
    )
    .join(
        sla_tickets,
        and_(
            sla_tickets.c.tenant_id == sla_clocks.c.tenant_id,
            sla_tickets.c.ticket_id == sla_clocks.c.ticket_id,
        ),
    )
    .where(
        sla_clocks.c.tenant_id == bindparam("tenant_id"),
        sla_clocks.c.ticket_id == bindparam("ticket_id"),
    )
    .order_by(sla_clocks.c.metric)
    .with_for_update(of=sla_clocks)
)
_TICKET = select(sla_tickets).where(
    sla_tickets.c.tenant_id == bindparam("tenant_id"),
    sla_tickets.c.ticket_id == bindparam("ticket_id"),
)
_POLICY_COUNT = select(func.count()).where(sla_policies.c.tenant_id == bindparam("tenant_id"))
_POLICIES = (
    select(sla_policies)
    .where(sla_policies.c.tenant_id == bindparam("tenant_id"))
    .order_by(sla_policies.c.policy_id, sla_policies.c.version.desc())
)
_POLICY_VERSION = select(sla_policies).where(
    sla_policies.c.tenant_id == bindparam("tenant_id"),
    sla_policies.c.policy_id == bindparam("policy_id"),
    sla_policies.c.version == bindparam("version"),
)


_CYCLE_OUTCOME = ("started_at", "stopped_at", "breached_at", "paused_seconds", "active_seconds")
_ADMITTED_TOGETHER = text(
    f"""
    WITH tickets AS (
        {unnest_insert(sla_tickets, "t")}
    ), clocks AS (
        {unnest_insert(sla_clocks, "c")}
    )
    {unnest_insert(sla_cycles, "y")}
    ON CONFLICT (tenant_id, ticket_id, metric, cycle) DO UPDATE SET
    {", ".join(f"{name} = excluded.{name}" for name in _CYCLE_OUTCOME)}
    """
)
"""PostgreSQL: the tickets admitted, the clocks added and the cycles recorded by a transaction,
in one statement whose text is the same for any batch (was one statement of each kind)."""


class SlaClockRepository:
    """Reads and writes SLA clocks (and the record of each cycle); callers pass the tenant."""

    def __init__(self, session: AsyncSession, optimistic: OptimisticInserts) -> None:
        """``optimistic``: the tickets admitted without looking, whose clocks are new too."""
        self._session = session
        self._optimistic = optimistic
        self._known: dict[Key, dict[str, SlaClock]] = {}
        """Every clock of these tickets, locked (or created) by this transaction."""
        self._added: dict[tuple[str, str, str], SlaClock] = {}
        self._saved: dict[tuple[str, str, str], SlaClock] = {}
        self._cycles: dict[tuple[str, str, str, int], SlaClock] = {}

    def none_yet(self, tenant_id: str, ticket_id: str) -> None:
        """The ticket was just admitted by this transaction: it has no clock yet."""
        self._known[(tenant_id, ticket_id)] = {}

    async def add(self, clock: SlaClock) -> None:
        """Insert a new clock."""
        self._added[(clock.tenant_id, clock.ticket_id, clock.metric)] = clock
        self._remember(clock)
        await self.record_cycle(clock)

    async def record_cycle(self, clock: SlaClock) -> None:
        """Write the outcome of the clock's cycle (``add`` and ``save`` do; a restart too)."""
        # Callers hold the clock's row lock, so nobody writes the same cycle in between.
        self._cycles[(clock.tenant_id, clock.ticket_id, clock.metric, clock.cycle)] = clock

    def discard(self) -> None:
        """Forget the clocks and cycles kept so far (the transaction rolled back)."""
        self._added, self._saved, self._cycles = {}, {}, {}

    def take_added(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The rows of the clocks added and of the cycles recorded so far, now no longer kept."""
        added, self._added = list(self._added.values()), {}
        cycles, self._cycles = list(self._cycles.values()), {}
        return [_row(clock) for clock in added], [_cycle_row(clock) for clock in cycles]

    async def flush(self) -> None:
        """Write the clocks and cycles kept so far: one statement for each kind."""
        saved, self._saved = list(self._saved.values()), {}
        added, cycles = self.take_added()
        if added:
            await self._optimistic.execute(self._session, _INSERT_CLOCKS, added)
        await self._save(saved)
        if cycles:
            await self._session.execute(_upsert(self._session.get_bind().dialect.name), cycles)

    async def flush_saved(self) -> None:
        """Write back the clocks changed so far (not those added)."""
        saved, self._saved = list(self._saved.values()), {}
        await self._save(saved)

    async def _save(self, saved: list[SlaClock]) -> None:
        if saved:
            await self._session.execute(
                _SAVE,
                [
                    {
                        **{k: v for k, v in _row(clock).items() if k not in _KEY},
                        "b_tenant_id": clock.tenant_id,
                        "b_ticket_id": clock.ticket_id,
                        "b_metric": clock.metric,
                    }
                    for clock in saved
                ],
            )

    async def _flush_ticket(self, tenant_id: str, ticket_id: str) -> None:
        """Flush first if a clock of this ticket is kept behind (its row is about to be read)."""
        if any(key[:2] == (tenant_id, ticket_id) for key in (*self._added, *self._saved)):
            await self.flush()

    def _remember(self, clock: SlaClock) -> None:
        known = self._known.get((clock.tenant_id, clock.ticket_id))
        if known is not None:
            known[clock.metric] = clock

    async def get(
        self, tenant_id: str, ticket_id: str, metric: str, *, for_update: bool = False
    ) -> SlaClock | None:
        """The clock of that ticket and metric, or None; ``for_update`` locks it until commit."""
        known = self._known.get((tenant_id, ticket_id))
        if known is not None:
            return known.get(metric)
        await self._flush_ticket(tenant_id, ticket_id)
        query = select(sla_clocks).where(
            sla_clocks.c.tenant_id == tenant_id,
            sla_clocks.c.ticket_id == ticket_id,
            sla_clocks.c.metric == metric,
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return _clock(row) if row else None

    async def for_ticket(
        self, tenant_id: str, ticket_id: str, *, for_update: bool = False
    ) -> list[SlaClock]:
        """Every clock of the tenant's ticket, by metric."""
        known = self._known.get((tenant_id, ticket_id))
        if known is not None:
            return [known[metric] for metric in sorted(known)]
        await self._flush_ticket(tenant_id, ticket_id)
        query = (
            select(sla_clocks)
            .where(sla_clocks.c.tenant_id == tenant_id, sla_clocks.c.ticket_id == ticket_id)
            .order_by(sla_clocks.c.metric)
        )
        if for_update:
            query = query.with_for_update()
        clocks = [_clock(row) for row in await self._session.execute(query)]
        if for_update:
            self._known[(tenant_id, ticket_id)] = {clock.metric: clock for clock in clocks}
        return clocks

    async def locked_with_ticket(self, tenant_id: str, ticket_id: str) -> Known | None:
        """Lock every clock of the ticket and read its row, in one statement; None when it has
        no clock (the caller reads the ticket alone)."""
        key = (tenant_id, ticket_id)
        await self._flush_ticket(tenant_id, ticket_id)
        rows = (
            await self._session.execute(
                _LOCKED_WITH_TICKET, {"tenant_id": tenant_id, "ticket_id": ticket_id}
            )
        ).all()
        if not rows:
            return None
        self._known[key] = {row.metric: _clock(row) for row in rows}
        return _known(rows[0], rows[0].ticket_policy_id, rows[0].ticket_policy_version)

    async def open_on_policy(self, tenant_id: str, policy_id: str) -> list[SlaClock]:
        """Running or paused clocks of the tenant on any version of ``policy_id``, locked."""
        await self.flush()
        query = (
            select(sla_clocks)
            .where(
                sla_clocks.c.tenant_id == tenant_id,
                sla_clocks.c.policy_id == policy_id,
                sla_clocks.c.stopped_at.is_(None),
            )
            .order_by(sla_clocks.c.ticket_id, sla_clocks.c.metric)
            .with_for_update()
        )
        return [_clock(row) for row in await self._session.execute(query)]

    async def save(self, clock: SlaClock) -> None:
        """Write back a changed clock."""
        key = (clock.tenant_id, clock.ticket_id, clock.metric)
        if key in self._added:
            self._added[key] = clock
        else:
            self._saved[key] = clock
        self._remember(clock)
        await self.record_cycle(clock)


class TicketRepository:
    """What escalation knows of each ticket: the facts policies look at, and its policy.

    A new ticket is admitted without looking for it first, and written behind: intake announces
    each ticket once, and the INSERTs at commit (its row, its clocks) would meet one admitted
    before. If they do, the transaction fails (the unit of work's ``OptimisticInserts``) and its
    events replayed one per transaction admit a ticket met before by the one statement that
    also checks it has no row and no clock, as before.
    """

    def __init__(self, session: AsyncSession, optimistic: OptimisticInserts) -> None:
        self._session = session
        self._optimistic = optimistic
        self._known: dict[Key, Known | None] = {}
        self._added: dict[Key, dict[str, Any]] = {}

    async def add(
        self, tenant_id: str, ticket_id: str, facts: TicketFacts, policy: SlaPolicy
    ) -> bool:
        """Record a new ticket and the policy version it follows; False if already recorded."""
        key = (tenant_id, ticket_id)
        if self._known.get(key) is not None:
            return False
        row = {
            "tenant_id": tenant_id,
            "ticket_id": ticket_id,
            "priority": facts.priority,
            "type": facts.type,
            "channel": facts.channel,
            "plan": facts.plan,
            "organization_id": facts.organization_id,
            "policy_id": policy.policy_id,
            "policy_version": policy.version,
        }
        if not self._optimistic.without_looking(key):
            result = await self._session.execute(
                _admit(self._session.get_bind().dialect.name),
                {f"b_{name}": value for name, value in row.items()},
            )
            if not getattr(result, "rowcount", 0):
                self._known.pop(key, None)
                return False
        else:
            self._added[key] = row
        self._known[key] = (facts, policy.policy_id, policy.version)
        return True

    def discard(self) -> None:
        """Forget the tickets admitted so far (the transaction rolled back)."""
        self._added = {}

    def take_added(self) -> list[dict[str, Any]]:
        """The rows of the tickets admitted so far, now no longer kept."""
        added, self._added = list(self._added.values()), {}
        return added

    async def flush(self) -> None:
        """Insert the tickets admitted so far, in one statement."""
        added = self.take_added()
        if added:
            await self._optimistic.execute(self._session, _INSERT_TICKETS, added)

    async def _flush_ticket(self, key: Key) -> None:
        if key in self._added:
            await self.flush()

    async def get(self, tenant_id: str, ticket_id: str) -> Known | None:
        """The ticket's facts, policy id and policy version; None if unknown."""
        key = (tenant_id, ticket_id)
        if self._known.get(key) is not None:
            return self._known[key]
        row = (
            await self._session.execute(_TICKET, {"tenant_id": tenant_id, "ticket_id": ticket_id})
        ).first()
        if row is None:
            return None
        known = self._known[key] = _known(row, row.policy_id, row.policy_version)
        return known

    def already_read(self, tenant_id: str, ticket_id: str) -> Known | None:
        """The ticket as this transaction read or wrote it, without a statement; else None."""
        return self._known.get((tenant_id, ticket_id))

    def remember(self, tenant_id: str, ticket_id: str, known: Known) -> None:
        """Keep what was read of the ticket elsewhere (with its clocks) for this transaction."""
        self._known[(tenant_id, ticket_id)] = known

    async def set_priority(self, tenant_id: str, ticket_id: str, priority: str) -> None:
        """Record the ticket's new priority."""
        await self._flush_ticket((tenant_id, ticket_id))
        self._known.pop((tenant_id, ticket_id), None)
        await self._session.execute(
            update(sla_tickets)
            .where(
                sla_tickets.c.tenant_id == tenant_id,
                sla_tickets.c.ticket_id == ticket_id,
            )
            .values(priority=priority)
        )

    async def follow(self, tenant_id: str, ticket_id: str, policy: SlaPolicy) -> None:
        """Record that the ticket now follows ``policy``'s version."""
        await self._flush_ticket((tenant_id, ticket_id))
        self._known.pop((tenant_id, ticket_id), None)
        await self._session.execute(
            update(sla_tickets)
            .where(
                sla_tickets.c.tenant_id == tenant_id,
                sla_tickets.c.ticket_id == ticket_id,
            )
            .values(policy_id=policy.policy_id, policy_version=policy.version)
        )


class WrittenTogether:
    """The tickets and clocks a transaction keeps behind, flushed together: on PostgreSQL the
    new tickets, clocks and cycles in one statement (``_ADMITTED_TOGETHER``), then the clocks
    changed; elsewhere each repository's statements, as before."""

    def __init__(
        self,
        session: AsyncSession,
        optimistic: OptimisticInserts,
        tickets: "TicketRepository",
        clocks: SlaClockRepository,
    ) -> None:
        self._session = session
        self._optimistic = optimistic
        self._tickets = tickets
        self._clocks = clocks

    async def flush(self) -> None:
        """Write what both keep (the tickets first)."""
        if self._session.get_bind().dialect.name != "postgresql":
            await self._tickets.flush()
            await self._clocks.flush()
            return
        tickets = self._tickets.take_added()
        clocks, cycles = self._clocks.take_added()
        if tickets or clocks or cycles:
            # A ticket or clock met here was written before: RowWrittenBefore, as for each.
            await self._optimistic.execute(
                self._session,
                _ADMITTED_TOGETHER,
                [
                    unnest_parameters(sla_tickets, "t", tickets)
                    | unnest_parameters(sla_clocks, "c", clocks)
                    | unnest_parameters(sla_cycles, "y", cycles)
                ],
            )
        await self._clocks.flush_saved()

    def discard(self) -> None:
        """Forget what both keep (the transaction rolled back)."""
        self._tickets.discard()
        self._clocks.discard()


class PolicyCache:
    """Policies kept across transactions (one per database, shared by its units of work).

    Stored versions never change, so each is kept once read. The current versions of a tenant
    are kept with the number of versions it had stored when they were read (its configuration
    version): versions are only ever added (never changed or removed), so that number moves
    with every version any replica adds, and one cheap count per transaction tells whether they
    must be read again.
    """

    def __init__(self) -> None:
        self.current: ConfigCache[TenantPolicies] = ConfigCache()
        self.versions: dict[tuple[str, str, int], SlaPolicy] = {}


@dataclass(frozen=True)
class TenantPolicies:
    """A tenant's current policies, and the statuses that move a clock under any version."""

    current: tuple[SlaPolicy, ...]
    moving_statuses: frozenset[str]
    """Every pause or stop status of every stored version: a ticket follows one of them."""


class PolicyRepository:
    """Every version of every SLA policy of a tenant (versions are never changed)."""

    def __init__(self, session: AsyncSession, cache: PolicyCache | None = None) -> None:
        self._session = session
        self._cache = cache or PolicyCache()
        self._current = ConfigReads(self._cache.current, self._count)
        """The current versions and the moving statuses, read once per transaction (again if it
        adds a version)."""

    async def add_version(
        self, tenant_id: str, document: PolicyDocument, policy_id: str
    ) -> SlaPolicy:
        """Store ``document`` as the next version of ``policy_id``; return it."""
        self._current.changing(tenant_id)
        latest = (
            await self._session.execute(
                select(func.max(sla_policies.c.version)).where(
                    sla_policies.c.tenant_id == tenant_id, sla_policies.c.policy_id == policy_id
                )
            )
        ).scalar()
        version = (latest or 0) + 1
        await self._session.execute(
            insert(sla_policies).values(
                tenant_id=tenant_id,
                policy_id=policy_id,
                version=version,
                position=document.position,
                document=document.model_dump(mode="json"),
                created_at=utcnow(),
            )
        )
        return document.to_policy(policy_id, version)

    async def current(self, tenant_id: str) -> list[SlaPolicy]:
        """The latest version of each of the tenant's policies, by position (read once per
        transaction, unless it adds a version; read again only when a version was added)."""
        return list((await self._current.get(tenant_id, self._read_current)).current)

    async def moving_statuses(self, tenant_id: str) -> frozenset[str]:
        """Every status a clock of the tenant may pause or stop in, under any stored version
        (read with the current versions: the same statements, once per transaction)."""
        return (await self._current.get(tenant_id, self._read_current)).moving_statuses

    async def _count(self, tenant_id: str) -> int:
        """The tenant's configuration version: how many policy versions it has stored."""
        count = (await self._session.execute(_POLICY_COUNT, {"tenant_id": tenant_id})).scalar()
        return int(count or 0)

    async def _read_current(self, tenant_id: str) -> TenantPolicies:
        rows = (await self._session.execute(_POLICIES, {"tenant_id": tenant_id})).all()
        latest: dict[str, SlaPolicy] = {}
        moving: set[str] = set()
        for row in rows:  # newest version of each policy first
            policy = PolicyDocument.model_validate(row.document).to_policy(
                row.policy_id, row.version
            )
            latest.setdefault(row.policy_id, policy)
            moving.update(moving_statuses(policy))
        return TenantPolicies(
            tuple(sorted(latest.values(), key=lambda policy: (policy.position, policy.policy_id))),
            frozenset(moving),
        )

    async def version(self, tenant_id: str, policy_id: str, version: int) -> SlaPolicy | None:
        """One stored version of a policy, or None."""
        key = (tenant_id, policy_id, version)
        kept = self._cache.versions.get(key)
        if kept is not None:
            return kept
        row = (
            await self._session.execute(
                _POLICY_VERSION,
                {"tenant_id": tenant_id, "policy_id": policy_id, "version": version},
            )
        ).first()
        if row is None:
            return None
        policy = PolicyDocument.model_validate(row.document).to_policy(policy_id, version)
        if not self._current.changed(tenant_id):
            self._cache.versions[key] = policy
        return policy
