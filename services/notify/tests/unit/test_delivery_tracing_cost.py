"""Without a span exporter a delivery makes no span (neither its own nor its HTTP call's), and
its webhook request and outcome event still carry the ticket's trace."""

from collections.abc import Sequence

from notify_testkit import (
    UnitOfWorkFactory,
    envelope_of,
    new_ticket_id,
    notify_of,
    published,
    ticket_assigned,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.adapters.webhook_http import Answer, WebhookHttp
from helpline_notify.bootstrap import delivery_tracer, webhook_sender
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared.events import NotificationDelivered
from helpline_shared.runtime import telemetry

RESOURCE = telemetry.service_resource("helpline-test", service_version="1", environ={})


class RecordingHttp(WebhookHttp):
    """Answers every POST with 204, keeping each request's headers."""

    def __init__(self) -> None:
        super().__init__(allow_private_networks=False, timeout=5.0)
        self.received: list[dict[str, str]] = []

    async def post(
        self, url: str, headers: Sequence[tuple[str, str]], body: bytes, excerpt_bytes: int
    ) -> Answer:
        self.received.append(dict(headers))
        return Answer(status_code=204, headers={}, excerpt=b"")


async def deliver_one_webhook(
    provider: TracerProvider, unit_of_work: UnitOfWorkFactory
) -> tuple[str, list[dict[str, str]]]:
    """Queue one ticket's webhook inside a trace and deliver it; the trace id and the requests'
    headers."""
    http = RecordingHttp()
    worker = DeliveryWorker(
        unit_of_work,
        FakeMailer(),
        webhook_sender(http, provider),
        delivery_tracer(provider),
        WorkerOptions(email_domain="x.example"),
        renderer=JinjaRenderer(),
    )
    await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id="acme",
            url="https://hooks.example.com/in",
            event_types=("helpline.ticket.assigned.v1",),
            allow_private_networks=False,
        ),
        unit_of_work(),
    )
    with TracerProvider().get_tracer("consumer").start_as_current_span("consume") as consume:
        await notify_of(envelope_of(ticket_assigned(new_ticket_id())), unit_of_work)
    while await worker.deliver_due():
        pass
    return format(consume.get_span_context().trace_id, "032x"), http.received


async def test_no_exporter_no_delivery_span_and_the_trace_goes_on(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    silent = telemetry.tracer_provider(RESOURCE, environ={})
    spans = InMemorySpanExporter()  # what the provider would make, seen only by this test
    silent.add_span_processor(SimpleSpanProcessor(spans))

    trace_id, [request] = await deliver_one_webhook(silent, unit_of_work)

    assert spans.get_finished_spans() == ()
    assert request["traceparent"].split("-")[1] == trace_id
    delivered = [e for e in await published(engine) if e.type == NotificationDelivered.event_type]
    assert len(delivered) == 2  # the webhook and the assignee's mail
    assert {e.extensions["traceparent"].split("-")[1] for e in delivered} == {trace_id}


async def test_with_an_exporter_the_delivery_and_its_call_are_spans(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    exporting = TracerProvider()
    spans = InMemorySpanExporter()
    exporting.add_span_processor(SimpleSpanProcessor(spans))

    trace_id, [request] = await deliver_one_webhook(exporting, unit_of_work)

    names = sorted(span.name for span in spans.get_finished_spans())
    assert names == ["POST", "notify send email", "notify send webhook"]
    assert request["traceparent"].split("-")[1] == trace_id
