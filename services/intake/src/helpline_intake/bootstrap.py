"""The one place intake is wired: settings, runtime, routes, subscriptions and mail edges."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from helpline_intake.adapters.attachments import FileAttachmentStore
from helpline_intake.adapters.domain_ownership import DnsTxtOwnership, TrustedOwnership
from helpline_intake.adapters.orm import metadata
from helpline_intake.config import IntakeSettings
from helpline_intake.domain.ports import AttachmentStore, DomainOwnership
from helpline_intake.entrypoints import (
    http,
    http_directory,
    http_domains,
    http_mail,
    http_reports,
)
from helpline_intake.entrypoints.imap import ImapPolicy, imap_poller
from helpline_intake.entrypoints.mail_loops import pending_sweeper
from helpline_intake.entrypoints.smtp import smtp_loop
from helpline_intake.service_layer import handlers
from helpline_intake.service_layer.email_intake import MailProcessing
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared import topics
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.service import ServiceRuntime

NAME = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(
    settings: IntakeSettings | None = None,
    attachments: AttachmentStore | None = None,
    ownership: DomainOwnership | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[FastAPI, ServiceRuntime]:
    """Build intake's app and runtime (nothing connects until the app starts).

    ``clock`` is the instant the SLA views count from (tests pass their own).
    """
    settings = settings or IntakeSettings()
    if ownership is None:
        ownership = (
            TrustedOwnership() if settings.domain_verification == "trust" else DnsTxtOwnership()
        )
    # Tickets go to the outbox first: a broker outage must not take intake out of service.
    runtime = ServiceRuntime(
        name=NAME, settings=settings, metadata=metadata, readiness_requires_kafka=False
    )
    store = attachments or FileAttachmentStore(settings.resolved_attachments_dir())

    def unit_of_work() -> IntakeUnitOfWork:
        return runtime.unit_of_work(IntakeUnitOfWork)

    runtime.consume(
        [topics.ROUTING, topics.SLA, topics.NOTIFICATIONS, topics.IDENTITY],
        handlers.handler_table(),
        unit_of_work,
    )
    secret = settings.reply_token_secret
    processing = MailProcessing(
        unit_of_work, store, settings.parse_timeout, secret.get_secret_value() if secret else None
    )
    if settings.smtp_server_enabled:
        runtime.add_loop(
            smtp_loop(
                processing,
                host=settings.smtp_server_host,
                port=settings.smtp_server_port,
                max_size=settings.max_message_size,
                lmtp=settings.smtp_server_protocol == "lmtp",
                tracer=runtime.tracer_provider.get_tracer("helpline.intake"),
            )
        )
    runtime.add_loop(pending_sweeper(processing, settings.pending_sweep_interval))
    imap_policy = ImapPolicy(
        allow_private_networks=settings.imap_allow_private_networks,
        allow_plaintext=settings.imap_allow_plaintext,
        max_message_size=settings.max_message_size,
    )
    runtime.add_loop(
        imap_poller(processing, settings.imap_poll_interval, settings.imap_batch_size, imap_policy)
    )
    app = runtime.http_app(
        "Helpline intake",
        [
            http.router(
                unit_of_work, settings.max_page_size, store, settings.max_attachment_size, clock
            ),
            http_reports.router(unit_of_work, clock),
            http_directory.router(unit_of_work),
            http_domains.router(unit_of_work, ownership),
            http_mail.router(processing, imap_policy),
        ],
        body_limits={
            # Attachments travel base64-encoded: a message may be as large as a mail may be.
            ("POST", "/v1/tickets/{ticket_id}/messages"): settings.max_message_size,
        },
    )
    return app, runtime
