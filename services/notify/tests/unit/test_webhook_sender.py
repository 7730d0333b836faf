"""The real webhook sender: Standard Webhooks signatures, Retry-After, no redirects, SSRF guard."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import uvicorn
from notify_testkit import UnitOfWorkFactory, envelope_of, new_ticket_id, notify_of, ticket_assigned
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from helpline_notify.adapters.fakes import FakeMailer
from helpline_notify.adapters.guarded_transport import webhook_client
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.adapters.webhooks import HttpxWebhookSender, parse_retry_after
from helpline_notify.domain.errors import DestinationRefused
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


async def test_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret = new_webhook_secret()
    received: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    sender = HttpxWebhookSender(httpx.AsyncClient(transport=httpx.MockTransport(endpoint)))
    response = await sender.send(request_to("https://hooks.example.com/in", secret))

    assert response.status_code == 204
    [request] = received
    assert Webhook(secret).verify(request.content, dict(request.headers)) == json.loads(BODY)
    assert request.headers["webhook-id"] == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(request.content, dict(request.headers))


def test_secrets_carry_the_prefix_and_32_random_bytes() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(Webhook(secret)._whsecret) == 32
    assert secret != new_webhook_secret()


async def test_retry_after_is_read_from_the_answer() -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    answers = iter(
        [
            httpx.Response(429, headers={"retry-after": "120"}),
            httpx.Response(503, headers={"retry-after": format_datetime(later, True)}),
        ]
    )
    sender = HttpxWebhookSender(
        httpx.AsyncClient(transport=httpx.MockTransport(lambda _request: next(answers)))
    )

    throttled = await sender.send(request_to("https://hooks.example.com/in"))
    unavailable = await sender.send(request_to("https://hooks.example.com/in"))

    assert throttled.retry_after == timedelta(seconds=120)
    assert unavailable.retry_after is not None
    assert timedelta(minutes=9) < unavailable.retry_after <= timedelta(minutes=10)


def test_unreadable_retry_after_is_ignored() -> None:
    assert parse_retry_after("soon", datetime.now(UTC)) is None
    assert parse_retry_after(None, datetime.now(UTC)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
    ],
)
async def test_private_destinations_are_refused_before_connecting(url: str) -> None:
    sender = HttpxWebhookSender(webhook_client(allow_private_networks=False, timeout=2.0))
    with pytest.raises(DestinationRefused, match=r"^refused: the host resolves to"):
        await sender.send(request_to(url))
    await sender.aclose()


async def test_metadata_is_refused_even_when_private_networks_are_allowed() -> None:
    sender = HttpxWebhookSender(webhook_client(allow_private_networks=True, timeout=2.0))
    with pytest.raises(DestinationRefused, match="cloud metadata"):
        await sender.send(request_to("http://169.254.169.254/latest/meta-data"))
    await sender.aclose()


async def test_local_receiver_is_reached_when_private_networks_are_allowed(
    receiver: tuple[Receiver, str],
) -> None:
    app, base_url = receiver
    secret = new_webhook_secret()
    sender = HttpxWebhookSender(webhook_client(allow_private_networks=True, timeout=5.0))

    response = await sender.send(request_to(f"{base_url}/in", secret))
    await sender.aclose()

    assert response.status_code == 200
    [(path, headers, body)] = app.requests
    assert path == "/in"
    Webhook(secret).verify(body, headers)


async def test_redirects_are_not_followed(receiver: tuple[Receiver, str]) -> None:
    app, base_url = receiver
    app.answers["/moved"] = (307, [(b"location", f"{base_url}/elsewhere".encode())])
    sender = HttpxWebhookSender(webhook_client(allow_private_networks=True, timeout=5.0))

    response = await sender.send(request_to(f"{base_url}/moved"))
    await sender.aclose()

    assert response.status_code == 307
    assert [path for path, _headers, _body in app.requests] == ["/moved"]


async def test_webhook_call_joins_the_trace_of_the_ticket(
    receiver: tuple[Receiver, str],
    unit_of_work: UnitOfWorkFactory,
) -> None:
    app, base_url = receiver
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    client = webhook_client(allow_private_networks=True, timeout=5.0)
    HTTPXClientInstrumentor().instrument_client(client, tracer_provider=provider)
    worker = DeliveryWorker(
        unit_of_work,
        FakeMailer(),
        HttpxWebhookSender(client),
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
    await client.aclose()

    by_name = {span.name: span for span in spans.get_finished_spans()}
    send = by_name["notify send webhook"]
    [http_span] = [span for span in by_name.values() if span.name.startswith("POST")]
    assert send.context.trace_id == http_span.context.trace_id == trace_id
    assert http_span.parent is not None and http_span.parent.span_id == send.context.span_id
    [(_path, headers, _body)] = app.requests
    assert headers["traceparent"].split("-")[1] == format(trace_id, "032x")
