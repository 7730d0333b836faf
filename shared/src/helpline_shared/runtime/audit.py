"""The audit trail every service keeps of its HTTP API (told each answer by ``Edge``).

Every write (POST, PUT, PATCH or DELETE answered 2xx), every permission denial (403) and every
refused credential (401) becomes an ``AuditRecorded`` event on ``helpline.audit``, which identity
appends to the tenant's audit log (``GET /v1/audit``). The record is committed to the service's
outbox before the response starts: what the caller is told happened is in the log. A route may
publish the record with its write (``audit_with_change``: one transaction, not two); records of
concurrent answers otherwise share one transaction (``AuditBatches``). A call with no usable
credential is recorded as actor ``anonymous``, and one whose tenant is unknown in tenant ``-``,
with its source address.
"""

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from prometheus_client import Counter
from starlette.requests import Request

from helpline_shared.events import AuditRecorded
from helpline_shared.runtime.auth import route_permission
from helpline_shared.runtime.credentials import Principal, audit_record
from helpline_shared.runtime.edge import Scope
from helpline_shared.runtime.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Bounded as identity's audit_log columns are (actors are ids identity issued: short).
_ACTION_LENGTH, _TARGET_LENGTH, _DETAIL_LENGTH = 64, 320, 200

Recorder = Callable[[AuditRecorded], Awaitable[None]]

AUDIT_RECORDS = Counter(
    "helpline_audit_records_total",
    "Audit records of HTTP answers, by outcome",
    ["service", "outcome"],
)
AUDIT_RECORDS_LOST = Counter(
    "helpline_audit_records_lost_total", "Audit records that could not be stored", ["service"]
)


_Waiting = tuple[AuditRecorded, contextvars.Context, "asyncio.Future[None]"]


class AuditBatches:
    """Commits audit records to the outbox, those of concurrent answers in one transaction.

    A record waits for the next transaction; that transaction takes every record waiting once
    it has its write turn (on SQLite, after the writes queued before it), so a burst of answers
    costs one transaction per turn instead of one per answer. ``record`` returns once its record
    is committed and raises if that transaction failed. Each record is staged in the context of
    its own caller, so it carries its own request's trace.
    """

    def __init__(self, unit_of_work: Callable[[], SqlUnitOfWork], max_batch: int = 500) -> None:
        self._unit_of_work = unit_of_work
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None

    async def record(self, event: AuditRecorded) -> None:
        """Commit ``event`` to the outbox with whatever other records wait for their turn."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, contextvars.copy_context(), done))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain(), name="audit-batches")
            self._draining.add_done_callback(self._fail_if_cancelled)
        await done

    def _fail_if_cancelled(self, task: "asyncio.Task[None]") -> None:
        # Cancelled (at shutdown) even before it ran: no caller may wait forever.
        if task.cancelled():
            waiting, self._waiting = self._waiting, []
            for _event, _context, done in waiting:
                if not done.done():
                    done.set_exception(RuntimeError("the audit transaction was cancelled"))

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await self._commit_one_batch()
        finally:
            self._draining = None

    async def _commit_one_batch(self) -> None:
        batch: list[_Waiting] = []
        try:
            async with self._unit_of_work() as uow:
                await uow.session.connection()  # the write turn: records arriving until now join
                batch, self._waiting = (
                    self._waiting[: self._max_batch],
                    self._waiting[self._max_batch :],
                )
                for event, context, _done in batch:
                    context.run(uow.publish, event)
                await uow.commit()
        except BaseException as error:
            # Handed to each caller of the batch (none may wait forever); a cancellation of
            # this task (shutdown) goes on.
            if not batch:
                batch, self._waiting = self._waiting, []
            for _event, _context, done in batch:
                if not done.done():
                    done.set_exception(
                        error if isinstance(error, Exception) else RuntimeError("cancelled")
                    )
            if not isinstance(error, Exception):
                raise
            return
        for _event, _context, done in batch:
            if not done.done():
                done.set_result(None)


def audited(method: str, status: int) -> Literal["ok", "denied", "failed"] | None:
    """The outcome an answer is recorded with, or None when it is not recorded."""
    if status == 401:
        return "failed"
    if status == 403:
        return "denied"
    if method in WRITE_METHODS and 200 <= status < 300:
        return "ok"
    return None


class AuditTrail:
    """Records audited answers through ``record`` (the service's outbox); ``Edge`` tells it
    each answer's status before the response starts."""

    def __init__(self, *, service: str, record: Recorder) -> None:
        self.service = service
        self.record = record
        self._counted: dict[str, Any] = {}
        """The ``AUDIT_RECORDS`` child of each outcome (``labels`` takes a lock and builds a
        key on every call: per request, as for the HTTP metrics)."""

    def _count(self, outcome: str) -> None:
        child = self._counted.get(outcome)
        if child is None:
            child = self._counted[outcome] = AUDIT_RECORDS.labels(self.service, outcome)
        child.inc()

    async def answered(self, scope: Scope, status: int) -> None:
        """Record the answer ``status`` to the request of ``scope`` if it is audited."""
        outcome = audited(scope["method"], status)
        if outcome is None:
            return
        if outcome == "ok" and scope.get("state", {}).get(_RECORDED_WITH_CHANGE):
            self._count(outcome)
            return  # committed with the change it records
        try:
            await self.record(audit_event(scope, self.service, status, outcome))
        except Exception:
            # The answer stands (a write is committed already); the gap is logged and counted.
            AUDIT_RECORDS_LOST.labels(self.service).inc()
            log.exception(
                "an audit record could not be stored",
                extra={"path": scope.get("path"), "status": status},
            )
        else:
            self._count(outcome)

    def with_change(self, request: Request) -> AuditRecorded:
        """The record of the successful write ``request`` makes, for the route to publish in
        the unit of work that commits the write: one transaction instead of two. The trail
        records nothing more for the request once it answers 2xx."""
        scope = request.scope
        status = getattr(scope.get("route"), "status_code", None) or 200
        scope.setdefault("state", {})[_RECORDED_WITH_CHANGE] = True
        return audit_event(scope, self.service, int(status), "ok")


_RECORDED_WITH_CHANGE = "audit_recorded_with_change"


def audit_with_change(request: Request) -> AuditRecorded | None:
    """The audit record of the write ``request`` makes, to publish with it (see
    ``AuditTrail.with_change``); None when the app keeps no audit trail."""
    trail = getattr(request.app.state, "audit_trail", None)
    return trail.with_change(request) if isinstance(trail, AuditTrail) else None


def audit_event(
    scope: Scope, service: str, status: int, outcome: Literal["ok", "denied", "failed"]
) -> AuditRecorded:
    """The record of the answer ``status`` to the request of ``scope``."""
    state: dict[str, Any] = scope.get("state", {})
    principal: Principal | None = state.get("principal") or state.get("refused")
    method = str(scope["method"])
    route = scope.get("route")
    template = getattr(route, "path", None)
    action = route_permission(route) or f"{method} {template or scope.get('path', '')}"
    detail = {"method": method, "status": str(status)}
    if template:
        detail["route"] = template[:_DETAIL_LENGTH]
    return audit_record(
        principal,
        action[:_ACTION_LENGTH],
        service=service,
        request=Request(scope),
        outcome=outcome,
        target=str(scope.get("path", ""))[:_TARGET_LENGTH],
        **detail,
    )
