"""The delivery ledger: one row per notification and one per attempt, with retention."""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    bindparam,
    delete,
    exists,
    func,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_notify.adapters.orm import deliveries, delivery_attempts, suppressions
from helpline_notify.adapters.statements import dialect_name, insert_ignoring_conflicts
from helpline_notify.domain.model import Attempt, Delivery
from helpline_shared.runtime.db import insert_all

_DELIVERY_COLUMNS = [f.name for f in fields(Delivery) if f.name != "lease_until"]
_OVERFETCH = 2
"""Claim looks at this many times the rows it may take, to skip rows of busy destinations."""


_EARLIER = deliveries.alias("earlier")


def _still_pending(table: FromClause) -> ColumnElement[bool]:
    """``status = 'pending'`` where the row is found by another index: written so that no
    index on ``status`` can serve it. Statistics taken while nothing was pending (the usual
    quiet moment) make PostgreSQL's planner read such a statement along the due index, which
    walks the whole backlog for each row: under a burst, half a millisecond per saved
    attempt and growing (``bench/pipeline.py --pg-statements``). ``status`` is never NULL."""
    return table.c.status.is_not_distinct_from("pending")


_SUPPRESSED = (
    select(suppressions.c.reason)
    .where(
        suppressions.c.tenant_id == deliveries.c.tenant_id,
        suppressions.c.address == func.lower(deliveries.c.destination),
        deliveries.c.channel == "email",
    )
    .scalar_subquery()
    .label("suppressed")
)
"""Why an email's address is suppressed, read with the claim (SQL ``lower`` is Python's only
for ASCII: other addresses are looked up apart, as ``SuppressionRepository.reasons`` does)."""
_DUE = (
    select(deliveries, _SUPPRESSED)
    .where(
        deliveries.c.status == "pending",
        deliveries.c.next_attempt_at <= bindparam("now"),
        or_(
            deliveries.c.ordered.is_(False),
            not_(
                exists().where(
                    # Along the ticket's own index: the ticket's few deliveries, not every
                    # delivery to the destination (a partner's URL takes most of them).
                    _EARLIER.c.tenant_id == deliveries.c.tenant_id,
                    _EARLIER.c.ticket_id == deliveries.c.ticket_id,
                    _EARLIER.c.destination == deliveries.c.destination,
                    _still_pending(_EARLIER),
                    _EARLIER.c.created_at < deliveries.c.created_at,
                )
            ),
        ),
    )
    .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
    .limit(bindparam("rows"))
    .with_for_update(skip_locked=True)
)
"""The oldest due deliveries, read along the due index (the cost is the batch's, not the
backlog's); an ordered one waits while an older one of its ticket to its destination is
pending."""
_DUE_BUT_SATURATED = _DUE.where(
    deliveries.c.destination.not_in(bindparam("saturated", expanding=True))
)
"""The same, leaving out destinations without a free slot (one whose backlog heads the queue
takes its free slots, and the rest of the batch waits for the next claim)."""
_FULL_CHANNELS = deliveries.c.channel.not_in(bindparam("full", expanding=True))
_DUE_BUT_FULL = {
    False: _DUE.where(_FULL_CHANNELS),
    True: _DUE_BUT_SATURATED.where(_FULL_CHANNELS),
}
"""The same, leaving out channels without a free slot too (a backlog of slow mail does not
fill the batch that webhooks queued after it wait for)."""
_LEASE = (
    update(deliveries)
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .values(attempts=deliveries.c.attempts + 1, next_attempt_at=bindparam("lease_until"))
)
_PENDING_ATTEMPTS = (
    select(deliveries.c.id, deliveries.c.attempts)
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)), _still_pending(deliveries))
    .with_for_update()
)
_SAVE_ATTEMPT = (
    update(deliveries)
    .where(
        deliveries.c.id == bindparam("b_id"),
        _still_pending(deliveries),
        deliveries.c.attempts == bindparam("b_attempts"),
    )
    .values(
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        last_error=bindparam("b_last_error"),
        delivered_at=bindparam("b_delivered_at"),
    )
)
_SAVED_STATES = select(deliveries.c.id, deliveries.c.attempts, deliveries.c.status).where(
    deliveries.c.id.in_(bindparam("ids", expanding=True))
)
_SAVE_ONE_ATTEMPT = _SAVE_ATTEMPT.returning(deliveries.c.id)
"""One attempt's result, checked and written in one statement (the usual batch at a low rate)."""
_SAVE_ATTEMPTS_PG = text(
    f"""
    UPDATE {deliveries.name} SET
        status = given.status,
        next_attempt_at = given.next_attempt_at,
        last_error = given.last_error,
        delivered_at = given.delivered_at
    FROM unnest(
        CAST(:ids AS VARCHAR[]),
        CAST(:attempts AS INTEGER[]),
        CAST(:statuses AS VARCHAR[]),
        CAST(:next_attempts AS TIMESTAMPTZ[]),
        CAST(:errors AS TEXT[]),
        CAST(:delivered AS TIMESTAMPTZ[])
    ) AS given (id, attempts, status, next_attempt_at, last_error, delivered_at)
    WHERE {deliveries.name}.id = given.id
        AND {deliveries.name}.status IS NOT DISTINCT FROM 'pending'
        AND {deliveries.name}.attempts = given.attempts
    RETURNING {deliveries.name}.id
    """
)
"""PostgreSQL: ``_SAVE_ATTEMPT`` for a whole batch in one statement of array parameters,
returning the ids it wrote (the others were taken by another worker meanwhile). The pending
check is written so that no index on ``status`` serves it (see ``_still_pending``): each row
is found by its key."""
_RECENT = select(deliveries.c.id).where(
    deliveries.c.tenant_id == bindparam("tenant_id"),
    deliveries.c.channel == "email",
    func.lower(deliveries.c.destination) == bindparam("address"),
    deliveries.c.created_at >= bindparam("since"),
    deliveries.c.status != "suppressed",
)
_RECENT_EMAILS = select(func.count()).select_from(_RECENT.subquery())
_RECENT_EMAILS_UP_TO = select(func.count()).select_from(
    _RECENT.limit(bindparam("up_to")).subquery()
)
RECENT_EMAILS = _RECENT_EMAILS_UP_TO.scalar_subquery().label("recent_emails")
"""``recent_email_count`` with ``up_to`` as a column of another statement (``tenant_id``,
``address`` lower-cased, ``since`` and ``up_to`` bound)."""


def _saved(delivery: Delivery) -> dict[str, Any]:
    """The parameters of ``_SAVE_ATTEMPT`` for ``delivery``'s attempt."""
    return {
        "b_id": delivery.id,
        "b_attempts": delivery.attempts,
        "b_status": delivery.status,
        "b_next_attempt_at": delivery.next_attempt_at,
        "b_last_error": delivery.last_error,
        "b_delivered_at": delivery.delivered_at,
    }


_DELIVERY_VALUES = attrgetter(*_DELIVERY_COLUMNS)
"""A row's values in ``Delivery``'s field order (``lease_until``, left out, is its last)."""
if [f.name for f in fields(Delivery)][: len(_DELIVERY_COLUMNS)] != _DELIVERY_COLUMNS:
    raise TypeError("Delivery.lease_until must stay its last field (rows fill it by position)")


def _delivery(row: Any) -> Delivery:
    return Delivery(*_DELIVERY_VALUES(row))


class DeliveryRepository:
    """Deliveries and their attempts; every query names the tenant except the worker's."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._staged: list[Delivery] = []
        self.inserted: set[str] = set()
        """Ids of the leased deliveries this transaction inserted (read by the hand-off)."""

    async def add_all(self, new_deliveries: Sequence[Delivery]) -> None:
        """Insert deliveries; one that already exists (same event, channel, destination) stays.
        They are written together by ``flush`` (the unit of work's commit, or the next read
        here): a batch of events inserts its deliveries in one statement."""
        self._staged.extend(new_deliveries)

    async def flush(self) -> None:
        """Write the deliveries ``add_all`` staged, in one statement."""
        if not self._staged:
            return
        staged, self._staged = self._staged, []
        rows = [{name: getattr(item, name) for name in _DELIVERY_COLUMNS} for item in staged]
        statement = insert_ignoring_conflicts(dialect_name(self._session), deliveries)
        if not any(item.lease_until is not None for item in staged):
            await self._session.execute(statement, rows)
            return
        # Leased at insert: the same statement says which rows are new (only those are sent).
        result = await self._session.execute(statement.returning(deliveries.c.id), rows)
        self.inserted.update(result.scalars())

    def discard(self) -> None:
        """Forget what was staged (the transaction rolled back)."""
        self._staged = []
        self.inserted = set()

    async def claim_due(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        free_slots: Mapping[str, int] | None = None,
        default_slots: int | None = None,
        suppressed: dict[str, str | None] | None = None,
        channel_slots: Mapping[str, int] | None = None,
    ) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries, at most the free slots of each destination (and
        of each channel in ``channel_slots``).

        An ordered delivery waits while an older one of its ticket to the same destination is
        still pending. ``suppressed`` gets, by delivery id, why each claimed email to an ASCII
        address may not be sent (None: it may), read by the same statement.
        """
        await self.flush()
        slots = dict(free_slots or {})
        saturated = sorted(destination for destination, free in slots.items() if free <= 0)
        channels = dict(channel_slots or {})
        full = sorted(channel for channel, free in channels.items() if free <= 0)
        parameters: dict[str, Any] = {"now": now, "rows": limit * _OVERFETCH}
        if saturated:
            parameters["saturated"] = saturated
        statement = _DUE_BUT_SATURATED if saturated else _DUE
        if full:
            parameters["full"] = full
            statement = _DUE_BUT_FULL[bool(saturated)]
        rows = await self._session.execute(statement, parameters)
        claimed: list[Delivery] = []
        for row in rows:
            delivery = _delivery(row)
            free = slots.get(delivery.destination, default_slots)
            if free is not None and free <= 0:
                continue
            channel_free = channels.get(delivery.channel)
            if channel_free is not None:
                if channel_free <= 0:
                    continue
                channels[delivery.channel] = channel_free - 1
            if free is not None:
                slots[delivery.destination] = free - 1
            claimed.append(delivery)
            if (
                suppressed is not None
                and delivery.channel == "email"
                and delivery.destination.isascii()
            ):
                suppressed[delivery.id] = row.suppressed
            if len(claimed) == limit:
                break
        for delivery in claimed:
            delivery.begin_attempt(lease_until)
        if claimed:
            await self._session.execute(
                _LEASE, {"ids": [delivery.id for delivery in claimed], "lease_until": lease_until}
            )
        return claimed

    async def save_attempt(self, delivery: Delivery) -> bool:
        """Write an attempt's result; False if another worker has taken the delivery since."""
        return bool(await self.save_attempts([delivery]))

    async def save_attempts(self, batch: Sequence[Delivery]) -> set[str]:
        """Write the results of a batch of attempts (one statement; on a driver that cannot count
        an executemany's rows, one more to check first); return the ids written, leaving out
        those another worker has taken since."""
        await self.flush()
        if not batch:
            return set()
        if dialect_name(self._session) == "postgresql":
            written = await self._session.scalars(
                _SAVE_ATTEMPTS_PG,
                {
                    "ids": [d.id for d in batch],
                    "attempts": [d.attempts for d in batch],
                    "statuses": [d.status for d in batch],
                    "next_attempts": [d.next_attempt_at for d in batch],
                    "errors": [d.last_error for d in batch],
                    "delivered": [d.delivered_at for d in batch],
                },
            )
            return set(written)
        if len(batch) == 1:
            [delivery] = batch
            written = await self._session.scalar(_SAVE_ONE_ATTEMPT, _saved(delivery))
            return {delivery.id} if written is not None else set()
        if self._session.get_bind().dialect.supports_sane_multi_rowcount:
            return await self._save_counted(batch)
        rows = await self._session.execute(
            _PENDING_ATTEMPTS, {"ids": [delivery.id for delivery in batch]}
        )
        current = {row.id: row.attempts for row in rows}
        ours = [delivery for delivery in batch if current.get(delivery.id) == delivery.attempts]
        if ours:
            await self._session.execute(_SAVE_ATTEMPT, [_saved(d) for d in ours])
        return {delivery.id for delivery in ours}

    async def _save_counted(self, batch: Sequence[Delivery]) -> set[str]:
        """``save_attempts`` where the driver counts the rows an executemany changed: written
        unchecked, and read back only when some were taken over meanwhile (rare)."""
        result = await self._session.execute(_SAVE_ATTEMPT, [_saved(d) for d in batch])
        if getattr(result, "rowcount", -1) == len(batch):
            return {delivery.id for delivery in batch}
        # A takeover counted one more attempt; a row written here holds this attempt's state.
        rows = await self._session.execute(_SAVED_STATES, {"ids": [d.id for d in batch]})
        now = {row.id: (row.attempts, row.status) for row in rows}
        return {d.id for d in batch if now.get(d.id) == (d.attempts, d.status)}

    async def record_attempt(self, attempt: Attempt) -> None:
        """Append one attempt to the ledger."""
        await self.flush()
        await self.record_attempts([attempt])

    async def record_attempts(self, attempts: Sequence[Attempt]) -> None:
        """Append attempts to the ledger in one statement."""
        await self.flush()
        await insert_all(
            self._session, delivery_attempts, [dict(attempt.__dict__) for attempt in attempts]
        )

    async def attempts(self, tenant_id: str, delivery_id: str) -> list[Attempt]:
        """The recorded attempts of the tenant's delivery, in order."""
        await self.flush()
        rows = await self._session.execute(
            select(delivery_attempts)
            .where(
                delivery_attempts.c.delivery_id == delivery_id,
                delivery_attempts.c.tenant_id == tenant_id,
            )
            .order_by(delivery_attempts.c.attempt, delivery_attempts.c.id)
        )
        return [
            Attempt(**{name: getattr(row, name) for name in Attempt.__dataclass_fields__})
            for row in rows
        ]

    async def get(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        """The tenant's delivery with that id, if any."""
        await self.flush()
        row = (
            await self._session.execute(
                select(deliveries).where(
                    deliveries.c.id == delivery_id, deliveries.c.tenant_id == tenant_id
                )
            )
        ).first()
        return _delivery(row) if row else None

    async def failed_since(
        self, tenant_id: str, destination: str, since: datetime
    ) -> list[Delivery]:
        """The failed (or suppressed) deliveries to ``destination`` created since ``since``."""
        await self.flush()
        rows = await self._session.execute(
            select(deliveries)
            .where(
                deliveries.c.tenant_id == tenant_id,
                deliveries.c.destination == destination,
                deliveries.c.status.in_(("failed", "suppressed")),
                deliveries.c.created_at >= since,
            )
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
        return [_delivery(row) for row in rows]

    async def requeue(self, delivery: Delivery) -> None:
        """Write a replayed delivery back as pending."""
        await self.flush()
        await self._session.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery.id)
            .values(
                status=delivery.status,
                next_attempt_at=delivery.next_attempt_at,
                delivered_at=None,
                attempts_before_replay=delivery.attempts_before_replay,
            )
        )

    async def recent_email_count(
        self, tenant_id: str, address: str, since: datetime, up_to: int | None = None
    ) -> int:
        """How many emails to ``address`` were queued since ``since`` (suppressed ones aside),
        counting no further than ``up_to``: the cap's cost stays the same however busy."""
        await self.flush_counted(tenant_id, address, since)
        parameters = {"tenant_id": tenant_id, "address": address.lower(), "since": since}
        if up_to is None:
            count = await self._session.scalar(_RECENT_EMAILS, parameters)
        else:
            count = await self._session.scalar(_RECENT_EMAILS_UP_TO, {**parameters, "up_to": up_to})
        return int(count or 0)

    async def flush_counted(self, tenant_id: str, address: str, since: datetime) -> None:
        """Write what is staged if a count of ``address``'s mail since ``since`` includes it."""
        if any(
            item.tenant_id == tenant_id
            and item.channel == "email"
            and item.destination.lower() == address.lower()
            and item.created_at >= since
            and item.status != "suppressed"
            for item in self._staged
        ):
            await self.flush()  # counted by the database like the others

    async def purge_finished_before(self, cutoff: datetime) -> int:
        """Delete finished deliveries created before ``cutoff`` and attempts before it."""
        await self.flush()
        await self._session.execute(
            delete(delivery_attempts).where(delivery_attempts.c.started_at < cutoff)
        )
        result = await self._session.execute(
            delete(deliveries).where(
                deliveries.c.created_at < cutoff, deliveries.c.status != "pending"
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def page(
        self,
        tenant_id: str,
        *,
        ticket_id: str | None,
        limit: int,
        after: tuple[datetime, str] | None = None,
        statuses: Collection[str] = (),
    ) -> list[Delivery]:
        """The tenant's deliveries, oldest first, optionally of one ticket, after a cursor."""
        await self.flush()
        query = select(deliveries).where(deliveries.c.tenant_id == tenant_id)
        if ticket_id is not None:
            query = query.where(deliveries.c.ticket_id == ticket_id)
        if statuses:
            query = query.where(deliveries.c.status.in_(list(statuses)))
        if after:
            created_at, delivery_id = after
            query = query.where(
                or_(
                    deliveries.c.created_at > created_at,
                    and_(deliveries.c.created_at == created_at, deliveries.c.id > delivery_id),
                )
            )
        rows = await self._session.execute(
            query.order_by(deliveries.c.created_at, deliveries.c.id).limit(limit)
        )
        return [_delivery(row) for row in rows]
