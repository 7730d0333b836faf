"""Notify's hot statements are built once: a second ticket, consumed and delivered like the
first, makes SQLAlchemy compute no new cache key for a statement on notify's own tables (only
the shared runtime's inbox and outbox statements are left to it)."""

from datetime import timedelta
from typing import Any

import pytest
from notify_testkit import (
    TENANT,
    UnitOfWorkFactory,
    composer,
    new_ticket_id,
    ticket_assigned,
    ticket_created,
)
from opentelemetry.trace import NoOpTracer
from sqlalchemy import select
from sqlalchemy.sql.cache_key import HasCacheKey

from helpline_notify.adapters.fakes import FakeMailer, FakeWebhookSender
from helpline_notify.adapters.orm import tickets
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.service_layer import endpoints, handlers
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.runtime.consumer import DeadLetters, TableConsumer
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, consumer_record

RUNTIME_TABLES = {"processed_events", "outbox"}


def _tables(statement: Any) -> set[str]:
    table = getattr(statement, "table", None)
    if table is not None:
        return {table.name}
    froms = statement.get_final_froms() if hasattr(statement, "get_final_froms") else []
    return {str(getattr(element, "name", type(element).__name__)) for element in froms}


async def _one_ticket(unit_of_work: UnitOfWorkFactory, worker: DeliveryWorker) -> int:
    ticket_id = new_ticket_id()
    consumer = TableConsumer(
        table=handlers.handler_table(
            handlers.EmailPolicy(escalation_email="escalations@example.com"), composer()
        ),
        unit_of_work=unit_of_work,
        dead_letters=DeadLetters(RecordingProducer(), "helpline-notify"),
        tracer=NoOpTracer(),
        group="helpline-notify",
    )
    await consumer.consume(
        [
            consumer_record(event, offset=n, topic="helpline.routing")
            for n, event in enumerate([ticket_created(ticket_id), ticket_assigned(ticket_id)])
        ],
        FakeKafkaConsumer(),
    )
    return await worker.deliver_due()


async def test_a_second_ticket_builds_no_statement_of_notifys_own(
    unit_of_work: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id=TENANT,
            url="https://hooks.example.com/in",
            event_types=("*",),
            allow_private_networks=False,
        ),
        unit_of_work(),
    )
    later = utcnow() + timedelta(seconds=1)
    worker = DeliveryWorker(
        unit_of_work,
        FakeMailer(),
        FakeWebhookSender(),
        NoOpTracer(),
        WorkerOptions(email_domain="mail.acme.example"),
        renderer=JinjaRenderer(),
        clock=lambda: later,
        jitter=lambda: 0.0,
    )
    assert await _one_ticket(unit_of_work, worker) == 4
    built: list[set[str]] = []
    compute = HasCacheKey._generate_cache_key

    def noted(statement: Any) -> Any:
        built.append(_tables(statement))
        return compute(statement)

    monkeypatch.setattr(HasCacheKey, "_generate_cache_key", noted)

    assert await _one_ticket(unit_of_work, worker) == 4

    assert [tables for tables in built if tables - RUNTIME_TABLES] == []
    select(tickets).where(tickets.c.ticket_id == "x")._generate_cache_key()
    assert built[-1] == {"tickets"}, "a statement built per use would have been seen"
