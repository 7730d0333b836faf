"""The real webhook sender: its secrets, Retry-After dates, no cookies, its trace."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import uvicorn
from notify_testkit import UnitOfWorkFactory, envelope_of, new_ticket_id, notify_of, ticket_assigned
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from standardwebhooks import Webhook

from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.adapters.webhooks import GuardedWebhookSender, parse_retry_after
from helpline_notify.bootstrap import guarded_webhooks
from helpline_notify.domain.model import new_webhook_secret
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.ports import WebhookRequest
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions

BODY = '{"type":"helpline.ticket.assigned.v1","timestamp":"2026-03-02T09:30:00Z","data":{}}'


def request_to(url: str, secret: str | None = None) -> WebhookRequest:
    return WebhookRequest(
        url=url,
        message_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        body=BODY,
        secret=secret or new_webhook_secret(),
    )


def guarded_sender() -> GuardedWebhookSender:
    """Notify's sender on its guarded client, loopback receivers allowed."""
    return guarded_webhooks(
        allow_private_networks=True, timeout=5.0, max_connections=4, provider=TracerProvider()
    )


class Receiver:
    """A tiny ASGI webhook receiver that records requests and answers as told per path."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: dict[str, tuple[int, list[tuple[bytes, bytes]]]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        self.requests.append((scope["path"], headers, body))
        status, extra = self.answers.get(scope["path"], (200, []))
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    """A receiver listening on a free loopback port, and its base URL."""
    app = Receiver()
    async with serving(app) as base_url:
        yield app, base_url


@contextlib.asynccontextmanager
async def serving(app: Receiver) -> AsyncIterator[str]:
    """``app`` under uvicorn on a free loopback port, and its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


def test_secrets_carry_the_prefix_and_32_random_bytes() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(Webhook(secret)._whsecret) == 32
    assert secret != new_webhook_secret()


async def test_a_retry_after_date_is_read_as_the_wait(receiver: tuple[Receiver, str]) -> None:
    app, base_url = receiver
    later = datetime.now(UTC) + timedelta(minutes=10)
    app.answers["/unavailable"] = (503, [(b"retry-after", format_datetime(later, True).encode())])
    sender = guarded_sender()

    unavailable = await sender.send(request_to(f"{base_url}/unavailable"))
    await sender.aclose()

    assert unavailable.retry_after is not None
    assert timedelta(minutes=9) < unavailable.retry_after <= timedelta(minutes=10)


def test_unreadable_retry_after_is_ignored() -> None:
    assert parse_retry_after("soon", datetime.now(UTC)) is None
    assert parse_retry_after(None, datetime.now(UTC)) is None


async def test_a_cookie_set_by_an_endpoint_is_never_sent_back(
    receiver: tuple[Receiver, str],
) -> None:
    app, base_url = receiver
    app.answers["/in"] = (200, [(b"set-cookie", b"session=partner; Path=/")])
    sender = guarded_sender()

    await sender.send(request_to(f"{base_url}/in"))
    await sender.send(request_to(f"{base_url}/in"))
    await sender.aclose()

    assert [headers.get("cookie") for _path, headers, _body in app.requests] == [None, None]


async def test_webhook_call_joins_the_trace_of_the_ticket(
    receiver: tuple[Receiver, str],
    unit_of_work: UnitOfWorkFactory,
) -> None:
    app, base_url = receiver
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    sender = guarded_webhooks(
        allow_private_networks=True, timeout=5.0, max_connections=4, provider=provider
    )
    worker = DeliveryWorker(
        unit_of_work,
        FakeMailer(),
        sender,
        provider.get_tracer("test"),
        WorkerOptions(email_domain="x.example"),
        renderer=JinjaRenderer(),
    )
    await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id="acme", url=f"{base_url}/in", event_types=("*",), allow_private_networks=True
        ),
        unit_of_work(),
    )
    with TracerProvider().get_tracer("consumer").start_as_current_span("consume") as consume:
        await notify_of(envelope_of(ticket_assigned(new_ticket_id())), unit_of_work)
    trace_id = consume.get_span_context().trace_id

    await worker.deliver_due()
    await sender.aclose()

    by_name = {span.name: span for span in spans.get_finished_spans()}
    send = by_name["notify send webhook"]
    [http_span] = [span for span in by_name.values() if span.name.startswith("POST")]
    assert send.context.trace_id == http_span.context.trace_id == trace_id
    assert http_span.parent is not None and http_span.parent.span_id == send.context.span_id
    [(_path, headers, _body)] = app.requests
    assert headers["traceparent"].split("-")[1] == format(trace_id, "032x")
