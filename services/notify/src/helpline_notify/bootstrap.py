"""The one place notify is wired: settings, runtime, adapters, worker, routes, subscriptions."""

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.trace import NoOpTracer, Tracer, TracerProvider

from helpline_notify.adapters.intake_attachments import HttpAttachmentSource
from helpline_notify.adapters.isolated_rendering import IsolatedRenderer, RenderLimits
from helpline_notify.adapters.orm import metadata
from helpline_notify.adapters.smtp import SmtpMailer
from helpline_notify.adapters.webhook_http import WebhookHttp
from helpline_notify.adapters.webhooks import GuardedWebhookSender
from helpline_notify.config import NotifySettings
from helpline_notify.entrypoints import http
from helpline_notify.entrypoints.partner_stream import subscribe_partner_stream
from helpline_notify.service_layer import handlers
from helpline_notify.service_layer.emails import EmailComposer
from helpline_notify.service_layer.ports import Mailer, WebhookSender
from helpline_notify.service_layer.retention import purge_and_report
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_notify.service_layer.worker import DeliveryWorker, WorkerOptions
from helpline_shared import topics
from helpline_shared.runtime.service import BackgroundLoop, ServiceRuntime, periodic_loop
from helpline_shared.runtime.telemetry import exports_spans

NAME = "notify"
MIGRATIONS = Path(__file__).parent / "migrations"


# Without an exporter no span reaches anyone: deliveries and HTTP calls then make none, and only
# carry the ticket's trace context on (to outcome events and webhook requests).


def delivery_tracer(provider: TracerProvider) -> Tracer:
    """The delivery worker's tracer: without an exporter one that makes no span and keeps the
    delivery's trace context current (OTel's no-op tracer continues its parent)."""
    return provider.get_tracer("helpline_notify") if exports_spans(provider) else NoOpTracer()


def traced_calls(client: httpx.AsyncClient, provider: TracerProvider) -> bool:
    """Give ``client`` a span per call when spans reach an exporter; whether it did."""
    if not exports_spans(provider):
        return False
    HTTPXClientInstrumentor().instrument_client(client, tracer_provider=provider)
    return True


def webhook_sender(http: WebhookHttp, provider: TracerProvider) -> GuardedWebhookSender:
    """The webhook sender on ``http``, its requests carrying the ticket's trace context (with
    a span per call when spans reach an exporter)."""
    tracer = provider.get_tracer("helpline_notify") if exports_spans(provider) else None
    return GuardedWebhookSender(http, tracer=tracer)


def guarded_webhooks(
    *,
    allow_private_networks: bool,
    timeout: float,
    max_connections: int,
    provider: TracerProvider,
) -> GuardedWebhookSender:
    """Notify's webhook sender: signed POSTs on the guarded client (``webhook_sender``)."""
    http_client = WebhookHttp(
        allow_private_networks=allow_private_networks,
        timeout=timeout,
        max_connections=max_connections,
    )
    return webhook_sender(http_client, provider)


def smtp_mailer(settings: NotifySettings) -> SmtpMailer:
    """The mailer of the configured SMTP server."""
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.mail_from,
        timeout=settings.delivery_timeout,
        max_sessions=settings.smtp_max_sessions,
    )


def bootstrap(
    settings: NotifySettings | None = None,
    *,
    mailer: Mailer | None = None,
    webhooks: WebhookSender | None = None,
) -> tuple[FastAPI, ServiceRuntime]:
    """Build notify's app and runtime (nothing connects until the app starts)."""
    settings = settings or NotifySettings()
    runtime = ServiceRuntime(name=NAME, settings=settings, metadata=metadata)

    def unit_of_work() -> NotifyUnitOfWork:
        uow = runtime.unit_of_work(NotifyUnitOfWork)
        uow.wake_worker = worker.wake
        uow.hand_off = worker
        return uow

    http_sender: GuardedWebhookSender | None = None
    if webhooks is None:
        webhooks = http_sender = guarded_webhooks(
            allow_private_networks=settings.webhook_allow_private_networks,
            timeout=settings.delivery_timeout,
            # As many connections as sends in flight: a send never queues behind slow ones.
            max_connections=settings.delivery_max_in_flight,
            provider=runtime.tracer_provider,
        )
    files: HttpAttachmentSource | None = None
    if settings.intake_service_key is not None:
        intake = httpx.AsyncClient(timeout=settings.delivery_timeout)
        traced_calls(intake, runtime.tracer_provider)
        files = HttpAttachmentSource(
            settings.intake_url,
            settings.intake_service_key.get_secret_value(),
            intake,
            settings.attachment_max_bytes,
        )
    renderer = IsolatedRenderer(
        RenderLimits(
            timeout=settings.template_render_timeout,
            max_output_bytes=settings.template_max_output_bytes,
            workers=settings.template_render_workers,
        )
    )
    smtp: SmtpMailer | None = None
    if mailer is None:
        mailer = smtp = smtp_mailer(settings)
    worker = DeliveryWorker(
        unit_of_work,
        mailer,
        webhooks,
        delivery_tracer(runtime.tracer_provider),
        WorkerOptions(
            email_domain=settings.email_domain,
            send_timeout=settings.delivery_timeout,
            batch_size=settings.delivery_batch_size,
            max_in_flight=settings.delivery_max_in_flight,
            max_per_destination=settings.delivery_max_per_destination,
            mail_sessions=settings.smtp_max_sessions,
            poll_interval=settings.delivery_poll_interval,
            disable_after=timedelta(seconds=settings.endpoint_disable_after),
        ),
        renderer=renderer,
        attachments=files,
    )

    async def stop_worker() -> None:
        await worker.stop(grace=settings.shutdown_timeout / 2)
        await renderer.aclose()
        if files is not None:
            await files.aclose()
        if http_sender is not None:
            await http_sender.aclose()
        if smtp is not None:
            await smtp.aclose()

    runtime.add_loop(BackgroundLoop("delivery-worker", worker.run, stop_worker))
    retention = timedelta(days=settings.ledger_retention_days)
    runtime.add_loop(
        periodic_loop(
            "ledger-retention",
            settings.retention_interval,
            lambda _stopping: purge_and_report(unit_of_work, retention),
        )
    )

    policy = handlers.EmailPolicy(
        escalation_email=settings.escalation_email,
        email_domain=settings.email_domain,
        recipient_cap=settings.recipient_rate_cap,
        recipient_cap_window=timedelta(seconds=settings.recipient_rate_window),
        reply_token_secret=(
            settings.reply_token_secret.get_secret_value() if settings.reply_token_secret else ""
        ),
        mail_from=settings.mail_from,
    )
    # Identity's events keep notify's people, teams and tenant names (roles resolve to them).
    runtime.consume(
        [topics.TICKETS, topics.ROUTING, topics.SLA, topics.IDENTITY],
        handlers.handler_table(policy, EmailComposer(renderer), unit_of_work),
        unit_of_work,
    )
    if settings.partner_stream_enabled:
        subscribe_partner_stream(runtime, settings)
    app = runtime.http_app(
        "Helpline notify",
        http.routers(
            http.ApiOptions(
                unit_of_work=unit_of_work,
                renderer=renderer,
                max_page_size=settings.max_page_size,
                allow_private_networks=settings.webhook_allow_private_networks,
                rotation_overlap=timedelta(seconds=settings.secret_rotation_overlap),
                wake_worker=worker.wake,
            )
        ),
    )
    app.webhooks.include_router(http.webhooks_router())
    return app, runtime
