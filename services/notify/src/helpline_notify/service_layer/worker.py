"""The delivery worker: claims due deliveries, sends each in the ticket's trace, records it."""

import asyncio
import collections
import contextlib
import functools
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from prometheus_client import Counter

from helpline_notify.domain.errors import DeliveryAttemptFailed
from helpline_notify.domain.model import Attempt, Delivery, WebhookEndpoint, printable
from helpline_notify.domain.retry import AttemptOutcome, webhook_outcome
from helpline_notify.service_layer.emails import SuppressionReason
from helpline_notify.service_layer.outcomes import outcome_event, owner_notice, suppressed_event
from helpline_notify.service_layer.ports import (
    AttachmentSource,
    Held,
    MailAttachment,
    Mailer,
    OutboundEmail,
    TemplateRenderer,
    WebhookRequest,
    WebhookResponse,
    WebhookSender,
)
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.envelope import derived_event_id
from helpline_shared.inputs import has_unsafe_characters
from helpline_shared.runtime.db import utcnow

log = logging.getLogger(__name__)

ATTEMPTS = Counter(
    "helpline_notify_attempts_total",
    "Email and webhook attempts, by outcome",
    ["channel", "outcome"],
)


@functools.cache
def _attempts(channel: str, outcome: str) -> Counter:
    """The attempts counter of a channel and outcome (``labels`` looks the child up anew)."""
    return ATTEMPTS.labels(channel, outcome)


Claimed = tuple[Delivery, WebhookEndpoint | None]

CLAIM_DEPTH = 2
"""Deliveries a destination may have claimed per send slot: the second wave waits in memory for
a slot, so a busy destination costs one claim per wave of sends, not one per finished send."""


@dataclass(frozen=True)
class _Settled:
    """One attempt's result (or a suppression) waiting to be written with the others."""

    delivery: Delivery
    endpoint: WebhookEndpoint | None
    context: otel_context.Context
    attempt: Attempt | None = None
    outcome: AttemptOutcome | None = None
    will_retry: bool = False
    suppression: tuple[SuppressionReason, str] | None = None


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker paces itself, and when it gives up on an endpoint."""

    email_domain: str
    send_timeout: float = 15.0
    batch_size: int = 50
    max_in_flight: int = 200
    """Webhook sends claimed and not yet recorded (the HTTP client keeps as many connections);
    mail has its own cap, ``mail_sessions`` waves deep."""
    max_per_destination: int = 8
    """Sends under way to one endpoint or address: a dead one cannot take every slot."""
    mail_sessions: int = 16
    """SMTP sessions the mailer sends on at once (``HELPLINE_SMTP_MAX_SESSIONS``)."""
    poll_interval: float = 0.5
    claim_interval: float = 0.05
    """Least seconds between two claims (unless the last one filled its batch): the deliveries
    a burst's many small commits queue are claimed together, not one commit at a time."""
    record_interval: float = 0.02
    """Least seconds between two writes of settled attempts: under load a write takes what
    settled in that time (one transaction for a wave of sends, not one per send or two);
    the first after a quiet spell is written at once."""
    disable_after: timedelta = timedelta(days=5)
    """An endpoint failing every attempt for this long is disabled and its owner told."""

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is held: well past its wait for a slot (one send), its
        own send and the recording after it."""
        return timedelta(seconds=max(60.0, (CLAIM_DEPTH + 2) * self.send_timeout))

    @property
    def max_in_flight_by_channel(self) -> dict[str, int]:
        """Deliveries each channel may have claimed and not yet recorded, apart: one slow
        channel cannot take the slots of the other. Mail gets a wave per SMTP session and the
        one waiting for it, as a destination does; more would only queue for a session."""
        return {"email": CLAIM_DEPTH * self.mail_sessions, "webhook": self.max_in_flight}

    @property
    def claimable_per_destination(self) -> int:
        """Deliveries one destination may have claimed and not yet recorded."""
        return CLAIM_DEPTH * self.max_per_destination


def _detail(outcome: AttemptOutcome, response: WebhookResponse | None) -> str | None:
    excerpt = printable(response.excerpt) if response and response.excerpt else None
    if outcome.delivered or not outcome.error:
        return excerpt
    return printable(f"{outcome.error}: {excerpt}" if excerpt else outcome.error)


_DATA_ERRORS = (ValueError, TypeError, LookupError)
"""Errors a retry cannot cure: the delivery's own data is wrong."""


def _unsendable(delivery: Delivery, endpoint: WebhookEndpoint | None) -> str | None:
    # Stored before the API refused such values: no mail server or URL parser will take them.
    if delivery.channel == "email" and has_unsafe_characters(delivery.destination):
        return f"unsendable address: {printable(delivery.destination)!r}"
    if endpoint is not None and has_unsafe_characters(endpoint.url):
        return f"unsendable URL: {printable(endpoint.url)!r}"
    return None


def _first_line(error: Exception) -> str:
    # A database error's later lines list the statement's parameters (addresses): not logged.
    return f"{type(error).__name__}: {str(error).partition(chr(10))[0][:200]}"


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
        renderer: TemplateRenderer,
        clock: Callable[[], datetime] = utcnow,
        jitter: Callable[[], float] = _random_jitter,
        attachments: AttachmentSource | None = None,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._mailer = mailer
        self._webhooks = webhooks
        self._tracer = tracer
        self._options = options
        self._renderer = renderer
        self._clock = clock
        self._jitter = jitter
        self._attachments = attachments
        self._in_flight: set[asyncio.Task[None]] = set()
        self._busy: collections.Counter[str] = collections.Counter()
        """Deliveries claimed and not yet recorded, per destination."""
        self._by_channel: collections.Counter[str] = collections.Counter()
        """Deliveries claimed and not yet recorded, per channel."""
        self._channel_caps = options.max_in_flight_by_channel
        self._max_in_flight = sum(self._channel_caps.values())
        self._claim_again = False
        self._sending: dict[str, asyncio.Semaphore] = {}
        """The send slots of each destination with claimed deliveries."""
        self._last_claim = -math.inf
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._suppressed: dict[str, str | None] = {}
        """Suppression of the claimed email deliveries, read in the claim's transaction."""
        self._settling: list[tuple[_Settled, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._last_write = -math.inf
        self._left_behind = True
        """Whether due deliveries may wait for a slot (a claim took some, or a hand-off was
        refused): finished sends then wake a claim; handed-off ones alone never do."""
        self._backlogged: dict[str, str] = {}
        """Destinations (with their channel) with due deliveries left in the ledger: nothing new
        is leased to them until a claim has taken those (older ones are not overtaken for
        long)."""

    def lease(self, delivery: Delivery, held: Held) -> bool:
        """Lease a just-queued delivery to this process if a send slot will be free for it
        (``held``: what the leasing transaction took already); True if it did."""
        destination, channel = delivery.destination, delivery.channel
        if (
            self._stopping
            or delivery.ordered  # it may have to wait for an older one: the claim decides
            or delivery.status != "pending"
            or destination in self._backlogged
            or self._by_channel[channel] + held.channels[channel] >= self._channel_caps[channel]
            or self._busy[destination] + held[destination]
            >= self._options.claimable_per_destination
        ):
            self._left_behind = True
            self._backlogged[destination] = channel
            return False
        delivery.begin_attempt(self._clock() + self._options.lease)
        held[destination] += 1
        held.channels[channel] += 1
        return True

    def take(self, leased: Sequence[Claimed]) -> None:
        """Send deliveries leased by ``lease`` in a transaction that has committed (their email
        addresses were checked for suppression by it)."""
        for delivery, _endpoint in leased:
            if delivery.channel == "email":
                self._suppressed[delivery.id] = None
        self._start(list(leased))

    async def drain(self) -> None:
        """Wait until the deliveries under way are sent and recorded."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def claim_due(self, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries, with the endpoints of the webhook ones."""
        now = self._clock()
        per_destination = self._options.claimable_per_destination
        free = {destination: per_destination - busy for destination, busy in self._busy.items()}
        channel_free = {
            channel: cap - self._by_channel[channel] for channel, cap in self._channel_caps.items()
        }
        async with self._unit_of_work() as uow:
            checked: dict[str, str | None] = {}
            claimed = await uow.deliveries.claim_due(
                now, now + self._options.lease, limit, free, per_destination, checked, channel_free
            )
            endpoints = await uow.endpoints.by_ids(
                delivery.destination for delivery in claimed if delivery.channel == "webhook"
            )
            mailed = [d for d in claimed if d.channel == "email" and not d.unrecorded_claims]
            reasons = await uow.suppressions.reasons(
                (delivery.tenant_id, delivery.destination)
                for delivery in mailed
                if delivery.id not in checked
            )
            await uow.commit()
        # A claim that took something, or skipped a destination without a free slot, may
        # have left due deliveries behind: finished sends claim again.
        self._left_behind = (
            bool(claimed)
            or any(slots <= 0 for slots in free.values())
            or any(slots <= 0 for slots in channel_free.values())
        )
        by_channel = collections.Counter[str](delivery.channel for delivery in claimed)
        filled = {
            channel for channel, slots in channel_free.items() if slots <= by_channel[channel]
        }
        # A channel this claim filled may have hidden other channels' due deliveries from it:
        # the next claim leaves that channel out.
        self._claim_again = any(channel_free[channel] > 0 for channel in filled)
        if len(claimed) < limit:  # what was due is claimed, but where slots ran out
            taken = collections.Counter(delivery.destination for delivery in claimed)
            self._backlogged = {
                destination: channel
                for destination, channel in self._backlogged.items()
                if channel in filled or free.get(destination, per_destination) <= taken[destination]
            }
        for delivery in mailed:
            reason = (
                checked[delivery.id]
                if delivery.id in checked
                else reasons.get((delivery.tenant_id, delivery.destination.lower()))
            )
            self._suppressed[delivery.id] = (
                None if reason is None else f"{delivery.destination} is suppressed: {reason}"
            )
        return [
            (
                delivery,
                endpoints.get(delivery.destination) if delivery.channel == "webhook" else None,
            )
            for delivery in claimed
        ]

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
            if delivery.channel == "webhook" and (endpoint is None or not endpoint.enabled):
                detail = (
                    "the endpoint was deleted"
                    if endpoint is None
                    else endpoint.disabled_reason or "the endpoint is disabled"
                )
                await self._suppress(delivery, "disabled_endpoint", detail)
                return
            started, clock_started = time.perf_counter(), self._clock()
            if delivery.unrecorded_claims:
                outcome, response = (
                    AttemptOutcome.failure(
                        f"gave up: {delivery.attempts - 1} attempts were claimed, the last ones "
                        "without a recorded outcome",
                        permanent=True,
                    ),
                    None,
                )
            else:
                unsendable = _unsendable(delivery, endpoint)
                if unsendable is None and delivery.channel == "email":
                    suppressed = await self._suppression(delivery)
                    if suppressed is not None:
                        await self._suppress(delivery, "suppressed_address", suppressed)
                        return
                if unsendable:
                    outcome, response = AttemptOutcome.failure(unsendable, permanent=True), None
                else:
                    async with self._slot(delivery.destination):
                        started, clock_started = time.perf_counter(), self._clock()
                        outcome, response = await self._attempt(delivery, endpoint)
            latency_ms = (time.perf_counter() - started) * 1000
            _attempts(delivery.channel, "delivered" if outcome.delivered else "failed").inc()
            if not outcome.delivered:
                span.set_status(Status(StatusCode.ERROR, outcome.error))
            attempt = Attempt(
                delivery_id=delivery.id,
                tenant_id=delivery.tenant_id,
                attempt=delivery.attempts,
                started_at=clock_started,
                latency_ms=round(latency_ms, 3),
                outcome="delivered" if outcome.delivered else "failed",
                status_code=response.status_code if response else None,
                detail=_detail(outcome, response),
            )
            # Recorded inside the span so the outcome event continues the ticket's trace.
            await self._record(delivery, endpoint, outcome, attempt)

    async def deliver_due(self) -> int:
        """Claim one batch of due deliveries and send them all; return how many there were."""
        claimed = await self.claim_due(self._options.batch_size)
        await asyncio.gather(*self._start(claimed))
        return len(claimed)

    def _slot(self, destination: str) -> contextlib.AbstractAsyncContextManager[object]:
        """One of the destination's send slots (none to take for a delivery not claimed here)."""
        return self._sending.get(destination) or contextlib.nullcontext()

    def _start(self, claimed: list[Claimed]) -> list["asyncio.Task[None]"]:
        """Send the claimed deliveries, each destination at most ``max_per_destination`` at once
        (the rest of its claim waits for a slot)."""
        tasks = []
        for delivery, endpoint in claimed:
            destination = delivery.destination
            if destination not in self._sending:
                self._sending[destination] = asyncio.Semaphore(self._options.max_per_destination)
            self._busy[destination] += 1
            self._by_channel[delivery.channel] += 1
            task = asyncio.create_task(
                self._deliver_logged(delivery, endpoint), name=f"deliver-{delivery.id}"
            )
            self._in_flight.add(task)
            task.add_done_callback(
                functools.partial(self._finished, destination=destination, channel=delivery.channel)
            )
            tasks.append(task)
        return tasks

    async def _attempt(
        self, delivery: Delivery, endpoint: WebhookEndpoint | None
    ) -> tuple[AttemptOutcome, WebhookResponse | None]:
        timeout = self._options.send_timeout
        try:
            async with asyncio.timeout(timeout):
                if delivery.channel == "email" or endpoint is None:
                    await self._mailer.send(
                        OutboundEmail(
                            message_id=delivery.message_id
                            or f"<{delivery.id}@{self._options.email_domain}>",
                            to=delivery.destination,
                            subject=delivery.subject or "",
                            text=delivery.payload,
                            html=delivery.html,
                            headers={
                                name: value
                                for name, value in (delivery.headers or {}).items()
                                if name != "Message-ID"
                            },
                            attachments=await self._files(delivery),
                        )
                    )
                    return AttemptOutcome.success(), None
                secrets = endpoint.signing_secrets(self._clock())
                response = await self._webhooks.send(
                    WebhookRequest(
                        url=endpoint.url,
                        message_id=delivery.id,
                        body=delivery.payload,
                        secret=secrets[0],
                        extra_secrets=secrets[1:],
                    )
                )
                return webhook_outcome(response.status_code, response.retry_after), response
        except TimeoutError:
            return AttemptOutcome.failure(f"no answer within {timeout:g} s"), None
        except DeliveryAttemptFailed as error:
            return AttemptOutcome.failure(error.reason, permanent=error.permanent), None
        # Anything else (a header the mail library refuses, a corrupt secret) is still one failed
        # attempt with its reason: the delivery ends within its schedule instead of looping.
        except Exception as error:  # noqa: BLE001 - recorded as the attempt's reason
            reason = f"{type(error).__name__}: {error}"[:500]
            # The reason goes to the ledger; the log gets its type only (it may name an address).
            log.warning(
                "delivery attempt failed unexpectedly: %s",
                type(error).__name__,
                extra={"notification_id": delivery.id, "attempt": delivery.attempts},
            )
            return AttemptOutcome.failure(reason, permanent=isinstance(error, _DATA_ERRORS)), None

    async def _files(self, delivery: Delivery) -> tuple[MailAttachment, ...]:
        """The files the email carries, read afresh at each attempt (notify keeps no copy)."""
        if not delivery.attachments:
            return ()
        if self._attachments is None:
            raise DeliveryAttemptFailed(
                "the email has attachments but notify cannot read them "
                "(set HELPLINE_INTAKE_SERVICE_KEY)",
                permanent=True,
            )
        return tuple(
            [
                MailAttachment(
                    filename=str(item["filename"]),
                    content_type=str(item["content_type"]),
                    data=await self._attachments.fetch(
                        delivery.tenant_id,
                        delivery.ticket_id,
                        str(item["message_id"]),
                        str(item["id"]),
                    ),
                )
                for item in delivery.attachments
            ]
        )

    async def _suppression(self, delivery: Delivery) -> str | None:
        """Why the address may not be mailed, as read when the delivery was claimed."""
        if delivery.id in self._suppressed:
            return self._suppressed.pop(delivery.id)
        async with self._unit_of_work() as uow:
            reason = await uow.suppressions.reason(delivery.tenant_id, delivery.destination)
        return None if reason is None else f"{delivery.destination} is suppressed: {reason}"

    async def _suppress(self, delivery: Delivery, reason: SuppressionReason, detail: str) -> None:
        delivery.suppress(f"{reason}: {detail}")
        await self._settle(
            _Settled(delivery, None, otel_context.get_current(), suppression=(reason, detail))
        )

    async def _record(
        self,
        delivery: Delivery,
        endpoint: WebhookEndpoint | None,
        outcome: AttemptOutcome,
        attempt: Attempt,
    ) -> None:
        will_retry = delivery.record_attempt(outcome, self._clock(), self._jitter())
        await self._settle(
            _Settled(
                delivery,
                endpoint,
                otel_context.get_current(),
                attempt=attempt,
                outcome=outcome,
                will_retry=will_retry,
            )
        )

    async def _settle(self, settled: "_Settled") -> None:
        """Have ``settled`` written with whatever else finished meanwhile, in one transaction;
        return once it is committed (raise what the transaction raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settling.append((settled, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_settled(), name="record-outcomes")
        await done

    async def _write_settled(self) -> None:
        loop = asyncio.get_running_loop()
        while self._settling:
            pause = self._last_write + self._options.record_interval - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            self._last_write = loop.time()
            batch, self._settling = self._settling, []
            try:
                await self._write(batch)
            except Exception as error:  # noqa: BLE001 - each sender logs it; leases retry
                for _settled, done in batch:
                    if not done.done():
                        done.set_exception(error)
            else:
                for _settled, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _write(self, batch: list[tuple["_Settled", "asyncio.Future[None]"]]) -> None:
        now = self._clock()
        async with self._unit_of_work() as uow:
            written = await uow.deliveries.save_attempts([item.delivery for item, _ in batch])
            await uow.deliveries.record_attempts(
                [
                    item.attempt
                    for item, _ in batch
                    if item.attempt is not None and item.delivery.id in written
                ]
            )
            disabled: set[str] = set()
            for item, _done in batch:
                delivery = item.delivery
                if delivery.id not in written:
                    if item.attempt is not None:
                        log.warning(
                            "delivery was taken over after its lease ran out; result dropped",
                            extra={"notification_id": delivery.id, "attempt": delivery.attempts},
                        )
                    continue
                # Published in the attempt's context: the outcome continues the ticket's trace.
                token = otel_context.attach(item.context)
                try:
                    await self._announce(uow, item, now, disabled)
                finally:
                    otel_context.detach(token)
            await uow.commit()

    async def _announce(
        self, uow: NotifyUnitOfWork, item: "_Settled", now: datetime, disabled: set[str]
    ) -> None:
        delivery = item.delivery
        if item.suppression is not None:
            reason, detail = item.suppression
            uow.publish(
                suppressed_event(delivery, reason, detail, now),
                event_id=derived_event_id(
                    "notification-suppressed", delivery.id, str(delivery.attempts)
                ),
            )
            return
        assert item.outcome is not None
        endpoint = item.endpoint
        if (
            endpoint is not None
            and endpoint.id not in disabled
            and await self._judge_endpoint(uow, endpoint, delivery, item.outcome, now)
        ):
            disabled.add(endpoint.id)
        uow.publish(
            outcome_event(delivery, item.outcome, item.will_retry, now),
            event_id=derived_event_id("notification-attempt", delivery.id, str(delivery.attempts)),
        )

    async def _judge_endpoint(
        self,
        uow: NotifyUnitOfWork,
        endpoint: WebhookEndpoint,
        delivery: Delivery,
        outcome: AttemptOutcome,
        now: datetime,
    ) -> bool:
        """Mark the endpoint failing or well again; True if it is disabled now."""
        if outcome.delivered:
            if endpoint.failing_since is not None:
                await uow.endpoints.mark_failing(endpoint.id, None)
            return False
        reason: str | None = None
        if outcome.endpoint_gone:
            reason = "answered 410 Gone"
        elif endpoint.failing_since is None:
            await uow.endpoints.mark_failing(endpoint.id, now)
        elif now - endpoint.failing_since >= self._options.disable_after:
            reason = f"every attempt failed since {endpoint.failing_since.isoformat()}"
        if reason is None:
            return False
        await uow.endpoints.disable(endpoint.id, reason)
        log.warning(
            "webhook endpoint disabled",
            extra={"endpoint_id": endpoint.id, "tenant_id": endpoint.tenant_id, "reason": reason},
        )
        notice = await owner_notice(
            endpoint,
            delivery,
            outcome.error or reason,
            self._options.email_domain,
            self._renderer,
            now,
        )
        await uow.deliveries.add_all([notice])
        if notice.status == "suppressed":
            uow.publish(
                suppressed_event(notice, "no_recipient", "the endpoint has no owner_email", now),
                event_id=derived_event_id("notification-suppressed", notice.id),
            )
        return True

    async def _deliver_logged(self, delivery: Delivery, endpoint: WebhookEndpoint | None) -> None:
        try:
            await self.deliver(delivery, endpoint)
        # The lease runs out and the delivery is tried again, a bounded number of times
        # (``Delivery.unrecorded_claims``); one line each, not a traceback on a timer.
        except Exception as error:  # noqa: BLE001 - logged; the lease brings it back
            log.warning(
                "delivery attempt could not be recorded; it will be retried: %s",
                _first_line(error),
                extra={"notification_id": delivery.id, "attempt": delivery.attempts},
            )
        finally:
            self._suppressed.pop(delivery.id, None)

    def wake(self) -> None:
        """Tell the worker that new deliveries may be due."""
        self._wakeup.set()

    async def run(self) -> None:
        """Claim and send until ``stop``, keeping at most each channel's cap claimed."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            claimed: list[Claimed] = []
            free = self._max_in_flight - len(self._in_flight)
            try:
                if free > 0:
                    pause = self._last_claim + self._options.claim_interval - loop.time()
                    if pause > 0:
                        await asyncio.sleep(pause)
                    self._last_claim = loop.time()
                    claimed = await self.claim_due(min(free, self._options.batch_size))
            except Exception as error:  # noqa: BLE001 - the worker outlives database outages
                log.warning("claiming due deliveries failed; retrying: %s", _first_line(error))
                await asyncio.sleep(1.0)
            self._start(claimed)
            if claimed and (
                len(claimed) == min(free, self._options.batch_size) or self._claim_again
            ):
                self._last_claim = -math.inf  # more is due: claim it at once
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._options.poll_interval)
            self._wakeup.clear()

    def _finished(self, task: asyncio.Task[None], *, destination: str, channel: str) -> None:
        self._in_flight.discard(task)
        self._busy[destination] -= 1
        self._by_channel[channel] -= 1
        left = self._busy[destination]
        if left <= 0:
            del self._busy[destination]
            del self._sending[destination]
        # Claim again when a whole wave fits (a destination's slots, a channel's, or a batch),
        # not per send.
        cap = self._channel_caps[channel]
        if self._left_behind and (
            left == self._options.max_per_destination
            or self._by_channel[channel] == cap - min(self._options.batch_size, cap // CLAIM_DEPTH)
            or len(self._in_flight) == self._max_in_flight - self._options.batch_size
            or not self._in_flight
        ):
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
        if self._writer is not None:  # the outcomes of the sends that finished
            await asyncio.wait({self._writer}, timeout=grace)
