"""The delivery worker: claims due deliveries, sends each in the ticket's trace, records it."""

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from prometheus_client import Counter

from helpline_notify.domain.errors import DeliveryAttemptFailed
from helpline_notify.domain.model import Delivery, WebhookEndpoint
from helpline_notify.domain.retry import AttemptOutcome, webhook_outcome
from helpline_notify.service_layer.ports import (
    Mailer,
    OutboundEmail,
    WebhookRequest,
    WebhookSender,
)
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.envelope import derived_event_id
from helpline_shared.events import Event, NotificationDelivered, NotificationFailed
from helpline_shared.runtime.db import utcnow

log = logging.getLogger(__name__)

ATTEMPTS = Counter(
    "helpline_notify_attempts_total", "Email and webhook attempts, by outcome",
    ["channel", "outcome"],
)

Claimed = tuple[Delivery, WebhookEndpoint | None]


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker paces itself."""

    email_domain: str
    send_timeout: float = 15.0
    batch_size: int = 50
    max_in_flight: int = 200
    poll_interval: float = 0.5

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is held: well past a send and the recording after it."""
        return timedelta(seconds=max(60.0, 4 * self.send_timeout))


def _random_jitter() -> float:
    return random.uniform(-1.0, 1.0)


class DeliveryWorker:
    """Sends pending deliveries concurrently, so one slow destination never holds up others."""

    def __init__(
        self,
        unit_of_work: Callable[[], NotifyUnitOfWork],
        mailer: Mailer,
        webhooks: WebhookSender,
        tracer: Tracer,
        options: WorkerOptions,
        *,
        clock: Callable[[], datetime] = utcnow,
        jitter: Callable[[], float] = _random_jitter,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._mailer = mailer
        self._webhooks = webhooks
        self._tracer = tracer
        self._options = options
        self._clock = clock
        self._jitter = jitter
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._stopping = False

    def message_id(self, delivery: Delivery) -> str:
        """The Message-ID of a delivery's email: unique, and the same on every retry."""
        return f"<{delivery.id}@{self._options.email_domain}>"

    async def claim_due(self, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries, with the endpoints of the webhook ones."""
        now = self._clock()
        async with self._unit_of_work() as uow:
            claimed = await uow.deliveries.claim_due(now, now + self._options.lease, limit)
            endpoints = await uow.endpoints.by_ids(
                delivery.destination for delivery in claimed if delivery.channel == "webhook"
            )
            await uow.commit()
        return [(delivery, endpoints.get(delivery.destination) if delivery.channel == "webhook"
                 else None) for delivery in claimed]

    async def deliver(self, delivery: Delivery, endpoint: WebhookEndpoint | None) -> None:
        """Make one attempt inside the ticket's trace, then record it and publish the outcome."""
        with self._tracer.start_as_current_span(
            f"notify send {delivery.channel}",
            context=propagate.extract(delivery.trace_headers),
            kind=SpanKind.INTERNAL,
            attributes={
                "helpline.notification.id": delivery.id,
                "helpline.notification.channel": delivery.channel,
                "helpline.notification.attempt": delivery.attempts,
                "helpline.ticket.id": delivery.ticket_id,
                "helpline.tenant.id": delivery.tenant_id,
            },
        ) as span:
            outcome = await self._attempt(delivery, endpoint)
            ATTEMPTS.labels(delivery.channel, "delivered" if outcome.delivered else "failed").inc()
            if not outcome.delivered:
                span.set_status(Status(StatusCode.ERROR, outcome.error))
            # Recorded inside the span so the outcome event continues the ticket's trace.
            await self._record(delivery, endpoint, outcome)

    async def deliver_due(self) -> int:
        """Claim one batch of due deliveries and send them all; return how many there were."""
        claimed = await self.claim_due(self._options.batch_size)
        await asyncio.gather(*(self._deliver_logged(*item) for item in claimed))
        return len(claimed)

    async def _attempt(self, delivery: Delivery, endpoint: WebhookEndpoint | None
                       ) -> AttemptOutcome:
        timeout = self._options.send_timeout
        try:
            async with asyncio.timeout(timeout):
                if delivery.channel == "email":
                    await self._mailer.send(OutboundEmail(
                        message_id=self.message_id(delivery), to=delivery.destination,
                        subject=delivery.subject or "", text=delivery.payload,
                    ))
                    return AttemptOutcome.success()
                if endpoint is None or not endpoint.enabled:
                    return AttemptOutcome.failure("the webhook endpoint is disabled or gone",
                                                  permanent=True)
                response = await self._webhooks.send(WebhookRequest(
                    url=endpoint.url, message_id=delivery.id, body=delivery.payload,
                    secret=endpoint.secret,
                ))
                return webhook_outcome(response.status_code, response.retry_after)
        except TimeoutError:
            return AttemptOutcome.failure(f"no answer within {timeout:g} s")
        except DeliveryAttemptFailed as error:
            return AttemptOutcome.failure(error.reason, permanent=error.permanent)

    async def _record(self, delivery: Delivery, endpoint: WebhookEndpoint | None,
                      outcome: AttemptOutcome) -> None:
        now = self._clock()
        will_retry = delivery.record_attempt(outcome, now, self._jitter())
        async with self._unit_of_work() as uow:
            if not await uow.deliveries.save_attempt(delivery):
                log.warning("delivery was taken over after its lease ran out; result dropped",
                            extra={"notification_id": delivery.id, "attempt": delivery.attempts})
                return
            if outcome.endpoint_gone and endpoint is not None:
                await uow.endpoints.disable(endpoint.id)
                log.warning("webhook endpoint answered 410 Gone and was disabled",
                            extra={"endpoint_id": endpoint.id, "tenant_id": endpoint.tenant_id})
            uow.publish(
                self._outcome_event(delivery, outcome, will_retry, now),
                event_id=derived_event_id("notification-attempt", delivery.id,
                                          str(delivery.attempts)),
            )
            await uow.commit()

    def _outcome_event(self, delivery: Delivery, outcome: AttemptOutcome, will_retry: bool,
                       now: datetime) -> Event:
        common = {
            "tenant_id": delivery.tenant_id, "ticket_id": delivery.ticket_id, "occurred_at": now,
            "notification_id": delivery.id, "channel": delivery.channel,
            "trigger_event_id": delivery.trigger_event_id,
            "trigger_event_type": delivery.trigger_event_type, "attempt": delivery.attempts,
        }
        if outcome.delivered:
            message_id = self.message_id(delivery) if delivery.channel == "email" else None
            return NotificationDelivered.model_validate(
                {**common, "outbound_message_id": message_id}
            )
        return NotificationFailed.model_validate(
            {**common, "error": outcome.error or "unknown error", "will_retry": will_retry}
        )

    async def _deliver_logged(self, delivery: Delivery, endpoint: WebhookEndpoint | None
                              ) -> None:
        try:
            await self.deliver(delivery, endpoint)
        except Exception:  # the lease runs out and the delivery is tried again
            log.exception("delivery attempt could not be recorded; it will be retried",
                          extra={"notification_id": delivery.id, "attempt": delivery.attempts})

    def wake(self) -> None:
        """Tell the worker that new deliveries may be due."""
        self._wakeup.set()

    async def run(self) -> None:
        """Claim and send until ``stop``, keeping at most ``max_in_flight`` sends under way."""
        while not self._stopping:
            claimed: list[Claimed] = []
            free = self._options.max_in_flight - len(self._in_flight)
            try:
                if free > 0:
                    claimed = await self.claim_due(min(free, self._options.batch_size))
            except Exception:  # the worker must outlive database outages
                log.exception("claiming due deliveries failed; retrying")
                await asyncio.sleep(1.0)
            for delivery, endpoint in claimed:
                task = asyncio.create_task(self._deliver_logged(delivery, endpoint),
                                           name=f"deliver-{delivery.id}")
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if claimed and len(claimed) == min(free, self._options.batch_size):
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._options.poll_interval)
            self._wakeup.clear()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.wake()

    async def stop(self, grace: float = 20.0) -> None:
        """Stop claiming; let sends under way finish (leases cover the ones that do not)."""
        self._stopping = True
        self.wake()
        if self._in_flight:
            _done, pending = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
