"""Every delivery ends: whatever goes wrong is a recorded attempt, and attempts are bounded."""

from datetime import timedelta

import httpx
import pytest
from notify_testkit import (
    TENANT,
    UnitOfWorkFactory,
    ledger,
    new_ticket_id,
    published,
)
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from test_delivery_worker import Harness

from helpline_notify.adapters.orm import deliveries, webhook_endpoints
from helpline_notify.domain.retry import MAX_ATTEMPTS
from helpline_notify.service_layer import tenant_settings
from helpline_notify.service_layer.ports import WebhookRequest, WebhookResponse
from helpline_shared.events import NotificationFailed, NotificationSuppressed

AIOSMTPLIB_REFUSAL = ValueError("Command arg contains a prohibited control character")


@pytest.fixture
def harness(unit_of_work: UnitOfWorkFactory) -> Harness:
    return Harness(unit_of_work)


async def _poison(unit_of_work: UnitOfWorkFactory, ticket_id: str, destination: str) -> None:
    """Give the ticket's email the address a hostile mail left there (before the API refused)."""
    async with unit_of_work() as uow:
        await uow.session.execute(
            update(deliveries)
            .where(
                deliveries.c.ticket_id == ticket_id,
                deliveries.c.channel == "email",
            )
            .values(destination=destination)
        )
        await uow.commit()


async def _attempts(unit_of_work: UnitOfWorkFactory, delivery_id: str) -> list[tuple[str, str]]:
    async with unit_of_work() as uow:
        return [
            (attempt.outcome, attempt.detail or "")
            for attempt in await uow.deliveries.attempts(TENANT, delivery_id)
        ]


async def _failures(engine: AsyncEngine) -> list[NotificationFailed]:
    return [e.event for e in await published(engine) if isinstance(e.event, NotificationFailed)]


async def test_an_address_with_a_nul_fails_for_good_at_once_with_its_reason(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)
    await _poison(unit_of_work, ticket_id, "ann\x00@example.com")
    harness.mailer.failure = AIOSMTPLIB_REFUSAL

    assert await harness.worker.deliver_due() == 1

    [email] = await ledger(unit_of_work, ticket_id)
    assert (email.status, email.attempts, email.next_attempt_at) == ("failed", 1, None)
    assert email.last_error is not None and "unsendable address" in email.last_error
    [(outcome, detail)] = await _attempts(unit_of_work, email.id)
    assert outcome == "failed" and "unsendable address" in detail and "\x00" not in detail
    [failed] = await _failures(engine)
    assert (failed.will_retry, failed.attempt) == (False, 1)
    harness.clock.advance(timedelta(days=2))
    assert await harness.worker.deliver_due() == 0


async def test_an_unexpected_error_is_a_failed_attempt_and_the_delivery_still_ends(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)
    harness.mailer.failure = RuntimeError("the mail library tripped")

    for _attempt in range(MAX_ATTEMPTS):
        assert await harness.worker.deliver_due() == 1
        harness.clock.advance(timedelta(hours=11))
    assert await harness.worker.deliver_due() == 0

    [email] = await ledger(unit_of_work, ticket_id)
    assert (email.status, email.attempts) == ("failed", MAX_ATTEMPTS)
    assert email.last_error == "RuntimeError: the mail library tripped"
    assert [outcome for outcome, _ in await _attempts(unit_of_work, email.id)] == [
        "failed"
    ] * MAX_ATTEMPTS
    assert [event.will_retry for event in await _failures(engine)] == [True] * 7 + [False]
    assert not [record for record in caplog.records if record.exc_info]


async def test_a_data_error_while_sending_fails_the_delivery_for_good(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
) -> None:
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)
    harness.mailer.failure = ValueError("Header values may not contain linefeed")

    await harness.worker.deliver_due()

    [email] = await ledger(unit_of_work, ticket_id)
    assert (email.status, email.last_error) == (
        "failed",
        "ValueError: Header values may not contain linefeed",
    )


async def test_claims_whose_outcome_is_never_recorded_end_in_a_final_failure(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)
    # A worker that crashes (or cannot write) after each claim: the lease hands it out again.
    for _claim in range(MAX_ATTEMPTS):
        assert len(await harness.worker.claim_due(10)) == 1
        harness.clock.advance(harness.worker._options.lease + timedelta(seconds=1))

    assert await harness.worker.deliver_due() == 1

    assert harness.mailer.sent == []
    [email] = await ledger(unit_of_work, ticket_id)
    assert (email.status, email.next_attempt_at) == ("failed", None)
    assert email.last_error is not None and email.last_error.startswith("gave up")
    [failed] = await _failures(engine)
    assert failed.will_retry is False and failed.error.startswith("gave up")


async def test_suppressing_an_address_stops_its_pending_delivery(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)
    await tenant_settings.suppress_address(
        TENANT, "Ann@Example.com", "asked us to stop", unit_of_work()
    )

    await harness.worker.deliver_due()

    assert harness.mailer.sent == []
    [email] = await ledger(unit_of_work, ticket_id)
    assert email.status == "suppressed"
    [event] = [
        e.event for e in await published(engine) if isinstance(e.event, NotificationSuppressed)
    ]
    assert event.reason == "suppressed_address" and "asked us to stop" in (event.detail or "")


async def test_a_webhook_url_with_a_control_character_fails_for_good(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    endpoint_id = await harness.add_endpoint()
    async with unit_of_work() as uow:
        await uow.session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(url="https://hooks.example.com/\x01in")
        )
        await uow.commit()

    def as_httpx_does(request: WebhookRequest) -> WebhookResponse:
        raise httpx.InvalidURL("Invalid non-printable ASCII character in URL")

    harness.webhooks.respond = as_httpx_does
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)

    await harness.worker.deliver_due()

    [webhook] = [d for d in await ledger(unit_of_work, ticket_id) if d.channel == "webhook"]
    assert (webhook.status, webhook.attempts) == ("failed", 1)
    assert webhook.last_error is not None and "unsendable URL" in webhook.last_error
    assert [f.will_retry for f in await _failures(engine)] == [False]


async def test_a_receiver_answering_control_characters_is_recorded_without_them(
    harness: Harness,
    unit_of_work: UnitOfWorkFactory,
) -> None:
    await harness.add_endpoint()
    harness.webhooks.respond = lambda _request: WebhookResponse(500, excerpt="oops\x00\x1b[31m")
    ticket_id = new_ticket_id()
    await harness.assign(ticket_id)

    await harness.worker.deliver_due()

    [webhook] = [d for d in await ledger(unit_of_work, ticket_id) if d.channel == "webhook"]
    [(_outcome, detail)] = await _attempts(unit_of_work, webhook.id)
    assert detail == "HTTP 500: oops\ufffd\ufffd[31m"
