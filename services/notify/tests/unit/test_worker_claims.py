"""The worker claims in waves, not per finished send: a destination may have twice its send slots
claimed (the second wave waits in memory for a slot), a finished send asks for a claim only when
a whole wave fits, commits close together are claimed together, and a claim reads the due index
rather than ranking the whole backlog."""

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from notify_testkit import (
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    ledger,
    new_ticket_id,
    notify_of,
    ticket_created,
)
from opentelemetry.trace import NoOpTracer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.ports import OutboundEmail, WebhookRequest, WebhookResponse
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import StatementLog

CREATED = "helpline.ticket.created.v1"
CLAIM = "UPDATE deliveries SET attempts="
PATIENCE = 10.0
"""Seconds a test waits for the worker before it fails (never reached when it works)."""


class Progress:
    """Tells a waiting test that something moved (a send arrived, passed or was made)."""

    def __init__(self) -> None:
        self._moved = asyncio.Event()

    def moved(self) -> None:
        self._moved.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, looking again each time something moves."""
        async with asyncio.timeout(PATIENCE):
            while not condition():
                self._moved.clear()
                await self._moved.wait()


class Gate(Progress):
    """Holds every send until the test lets one through; counts those waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = 0
        self.passed = 0
        self._permits = asyncio.Semaphore(0)

    async def enter(self) -> None:
        self.waiting += 1
        self.moved()
        await self._permits.acquire()
        self.waiting -= 1
        self.passed += 1
        self.moved()

    async def let_one_through(self) -> None:
        passed = self.passed
        self._permits.release()
        await self.until(lambda: self.passed > passed)


class GatedMailer(FakeMailer):
    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    async def send(self, email: OutboundEmail) -> None:
        await self.gate.enter()
        await super().send(email)
        self.gate.moved()


class GatedWebhooks(FakeWebhookSender):
    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        await self.gate.enter()
        answer = await super().send(request)
        self.gate.moved()
        return answer


class CountingMailer(FakeMailer, Progress):
    def __init__(self) -> None:
        FakeMailer.__init__(self)
        Progress.__init__(self)

    async def send(self, email: OutboundEmail) -> None:
        await super().send(email)
        self.moved()


def worker(
    unit_of_work: UnitOfWorkFactory,
    mailer: FakeMailer,
    webhooks: FakeWebhookSender,
    **options: Any,
) -> DeliveryWorker:
    later = utcnow() + timedelta(seconds=1)
    return DeliveryWorker(
        unit_of_work,
        mailer,
        webhooks,
        NoOpTracer(),
        WorkerOptions(email_domain="mail.acme.example", poll_interval=60.0, **options),
        renderer=JinjaRenderer(),
        clock=lambda: later,
        jitter=lambda: 0.0,
    )


async def created_tickets(unit_of_work: UnitOfWorkFactory, count: int) -> None:
    """``count`` tickets, each queueing an email to carol and a webhook to one endpoint."""
    await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id=TENANT,
            url="https://hooks.example.com/in",
            event_types=(CREATED,),
            allow_private_networks=False,
        ),
        unit_of_work(),
    )
    for _ in range(count):
        await notify_of(envelope_of(ticket_created(new_ticket_id())), unit_of_work)


async def test_a_destination_sends_its_slots_at_once_and_holds_one_more_wave_claimed(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await created_tickets(unit_of_work, 6)
    gate = Gate()
    sender = worker(
        unit_of_work, GatedMailer(gate), GatedWebhooks(gate), max_per_destination=2, batch_size=50
    )
    runner = asyncio.create_task(sender.run())
    try:
        await gate.until(lambda: gate.waiting == 4)
        for _ in range(100):  # room for a send beyond the slots to show up (none may)
            await asyncio.sleep(0)

        assert gate.waiting == 4, "two sends under way per destination"
        claimed = [d.attempts for d in await ledger(unit_of_work)]
        assert sorted(claimed) == [0, 0, 0, 0] + [1] * 8, "two waves claimed per destination"
    finally:
        await sender.stop(grace=0.1)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_a_busy_destination_is_claimed_for_once_per_wave_not_per_send(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    tickets = 16
    await created_tickets(unit_of_work, tickets)
    gate = Gate()
    mailer, webhooks = GatedMailer(gate), GatedWebhooks(gate)
    sender = worker(
        unit_of_work, mailer, webhooks, max_per_destination=4, batch_size=50, claim_interval=0.0
    )
    log = StatementLog(engine)
    runner = asyncio.create_task(sender.run())
    try:
        for _ in range(2 * tickets):  # one send finishes at a time
            await gate.until(lambda: gate.waiting > 0)
            await gate.let_one_through()
    finally:
        await sender.stop(grace=PATIENCE)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    assert {d.status for d in await ledger(unit_of_work)} == {"delivered"}
    # Both destinations' first two waves in the first claim, then at most a claim each time
    # one of them frees a wave of 4 slots: 1 + 2 * (16 - 8) / 4 (one per finished send: 25).
    assert log.count(CLAIM) <= 1 + 2 * (tickets - 8) // 4, log.count(CLAIM)


async def test_deliveries_queued_close_together_are_claimed_together(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    mailer = CountingMailer()
    sender = worker(unit_of_work, mailer, FakeWebhookSender(), claim_interval=0.3)
    await notify_of(envelope_of(ticket_created(new_ticket_id())), unit_of_work)
    log = StatementLog(engine)
    runner = asyncio.create_task(sender.run())
    try:
        await mailer.until(lambda: len(mailer.sent) == 1)  # claimed at once
        for _ in range(4):  # four consumer commits, each waking the worker
            await notify_of(envelope_of(ticket_created(new_ticket_id())), unit_of_work)
            sender.wake()
            for _turn in range(50):  # the worker's turn to claim, were it to claim at once
                await asyncio.sleep(0)
        await mailer.until(lambda: len(mailer.sent) == 5)
    finally:
        await sender.stop(grace=PATIENCE)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    assert log.count(CLAIM) == 2, "the first at once, the other four gathered in one claim"


async def test_a_claim_reads_the_due_index_not_the_whole_backlog(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory, database_url: str
) -> None:
    await created_tickets(unit_of_work, 2)
    claims: list[tuple[str, Any]] = []

    def note(_connection: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT deliveries.id") and "LIMIT" in statement:
            claims.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    async with unit_of_work() as uow:
        later = utcnow() + timedelta(seconds=1)
        await uow.deliveries.claim_due(later, later + timedelta(minutes=1), 10, {"x": 0}, 16)
    [(statement, parameters)] = claims

    with sqlite3.connect(database_url.removeprefix("sqlite+aiosqlite:///")) as connection:
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]

    assert (
        plan[0]
        == "SEARCH deliveries USING INDEX ix_deliveries_due (status=? AND next_attempt_at<?)"
    )
    assert not [step for step in plan if step.startswith(("SCAN", "CO-ROUTINE"))], plan
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan, "no sort of every due row"
