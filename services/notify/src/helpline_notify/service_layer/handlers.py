"""Notify's event handler: learn from each event, then queue or suppress what it notifies."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import cached_property
from typing import Any

from helpline_notify.domain.model import Delivery, DeliveryChannel, TicketView, printable, storable
from helpline_notify.domain.people import account_manager_in
from helpline_notify.domain.planning import (
    EmailTarget,
    delivery_id,
    email_targets,
    emailed_roles,
    may_notify,
    pending_delivery,
    webhook_targets,
)
from helpline_notify.domain.templates import webhook_body
from helpline_notify.service_layer.directory import DIRECTORY_EVENTS, apply_identity_event
from helpline_notify.service_layer.emails import ComposeOptions, EmailComposer, NotSent
from helpline_notify.service_layer.recipients import reply_sender, role_people, without_author
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.envelope import Envelope, derived_event_id
from helpline_shared.events import (
    EVENT_TYPES,
    EmailBounced,
    Event,
    MessageAdded,
    NotificationSuppressed,
    SlaEscalated,
    TicketAssigned,
    TicketClassified,
    TicketCreated,
    TicketOffered,
    TicketQueued,
    TicketRoutingRelaxed,
    TicketUpdated,
)
from helpline_shared.runtime.consumer import HandlerTable, apply_alone
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.outbox import trace_headers

CONSUMER = "notify"
NOT_CONSUMED_PREFIXES = ("helpline.identity.", "helpline.notification.", "helpline.audit.")
"""Event types notify's ticket handler never applies: identity's go to the directory (those it
reads), notify's own outcomes and audit records notify nobody."""

UnitOfWorkFactory = Callable[[], NotifyUnitOfWork]


@dataclass(frozen=True)
class EmailPolicy:
    """Who hears of unowned SLA problems, and how much mail one address may get."""

    escalation_email: str
    email_domain: str = "helpline.test"
    recipient_cap: int = 20
    recipient_cap_window: timedelta = timedelta(hours=1)
    reply_token_secret: str = ""
    mail_from: str = "Helpline <notifications@helpline.test>"
    """Whose address a person's reply is sent from when the ticket came in through no mailbox."""

    @cached_property
    def mail_from_address(self) -> str:
        """The address of ``mail_from`` (parsed once, not per event)."""
        return parseaddr(self.mail_from)[1]


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, tuple):
        return tuple(_storable(item) for item in value)
    return value


def learned(event: Event, ticket: TicketView | None) -> dict[str, Any]:
    """The ticket attributes an event tells notify (control characters replaced: a NUL from a
    hostile mail would fail the database write, and with it the whole event)."""
    known = {**_learned(event, ticket), **_manager_learned(event, ticket)}
    return {name: _storable(value) for name, value in known.items()}


def learns_from_ticket(event: Event) -> bool:
    """Whether what ``event`` teaches depends on what notify knew of the ticket before (a
    message joins its thread; an account manager is told apart from the assignee)."""
    return isinstance(event, MessageAdded) or (
        isinstance(event, TicketAssigned | TicketOffered | TicketQueued)
        and event.explanation is not None
    )


def _manager_learned(event: Event, ticket: TicketView | None) -> dict[str, Any]:
    explanation = getattr(event, "explanation", None)
    if not isinstance(event, TicketAssigned | TicketOffered | TicketQueued) or explanation is None:
        return {}
    if isinstance(event, TicketAssigned) and event.manual:
        return {}  # an admin's choice: routing looked for no preferred agent
    told, manager = account_manager_in(
        tuple(explanation.preferred_agents), ticket.assignee_id if ticket else None
    )
    return {"account_manager_id": manager} if told else {}


def _learned(event: Event, ticket: TicketView | None) -> dict[str, Any]:
    if isinstance(event, TicketCreated):
        return {
            "subject": event.subject,
            "requester_email": str(event.requester.email),
            "requester_name": event.requester.name,
            "priority": event.priority,
            "type": event.type,
            "organization_id": event.organization_id,
            "language": event.language,
            "mailbox": event.mailbox,
        }
    if isinstance(event, TicketAssigned):
        return {
            "assignee_id": event.agent_id,
            "assignee_name": event.agent_name,
            "assignee_email": str(event.agent_email),
        }
    if isinstance(event, TicketUpdated):
        return {"priority": event.priority, "type": event.type}
    if isinstance(event, TicketClassified):
        return {"priority": event.priority, "team": event.team}
    if isinstance(event, TicketRoutingRelaxed) and event.widened_to_team:
        return {"team": event.widened_to_team}
    if isinstance(event, SlaEscalated) and event.widen_to_team:
        return {"team": event.widen_to_team}
    thread = ticket.thread if ticket else ()
    if (
        isinstance(event, MessageAdded)
        and event.email_message_id
        and event.email_message_id not in thread
    ):
        return {"thread": (*thread, event.email_message_id)}
    return {}


def suppressed_delivery(
    envelope: Envelope, channel: DeliveryChannel, destination: str, reason: NotSent, now: datetime
) -> Delivery:
    """A ledger entry for a notification that is deliberately not sent."""
    event = envelope.event
    delivery = Delivery(
        id=delivery_id(envelope.id, channel, destination),
        tenant_id=event.tenant_id,
        ticket_id=event.ticket_id,
        channel=channel,
        destination=printable(destination)[:320],
        trigger_event_id=envelope.id,
        trigger_event_type=envelope.type,
        payload="",
        subject=None,
        trace_headers={},
        created_at=now,
    )
    delivery.suppress(f"{reason.reason}: {reason.detail}")
    return delivery


def suppression_event(delivery: Delivery, reason: NotSent, now: datetime) -> NotificationSuppressed:
    """The event telling that ``delivery`` was not sent, and why."""
    return NotificationSuppressed(
        tenant_id=delivery.tenant_id,
        ticket_id=delivery.ticket_id,
        occurred_at=now,
        notification_id=delivery.id,
        channel=delivery.channel,
        trigger_event_id=delivery.trigger_event_id,
        trigger_event_type=delivery.trigger_event_type,
        reason=reason.reason,
        detail=printable(reason.detail)[:1000],
    )


def handler_table(
    policy: EmailPolicy,
    composer: EmailComposer,
    unit_of_work: UnitOfWorkFactory | None = None,
) -> HandlerTable[NotifyUnitOfWork]:
    """Notify's consumer: identity's events keep the directory; every other event of the ticket,
    routing and SLA topics is learnt from and may notify (subscriptions match any type).
    With ``unit_of_work``, batches of events that teach nothing and that no subscription or
    endpoint wants are acknowledged without a write transaction."""

    batch = BatchTickets()

    async def notify(uow: NotifyUnitOfWork, envelope: Envelope) -> None:
        await apply_event(uow, envelope, policy, composer, along=batch.of(envelope.event.tenant_id))

    notified = [name for name in EVENT_TYPES if not name.startswith(NOT_CONSUMED_PREFIXES)]
    return HandlerTable(
        CONSUMER,
        {
            **dict.fromkeys(DIRECTORY_EVENTS, apply_identity_event),
            **dict.fromkeys(notified, notify),
        },
        unneeded=None if unit_of_work is None else _unneeded_check(unit_of_work),
        prepare=batch.prepare,
    )


class BatchTickets:
    """The tickets of the batch a transaction is about to apply, per tenant, as the runtime's
    ``prepare`` hands them over: the transaction's first read of a tenant's ticket reads the
    batch's other tickets of that tenant in the same statement. Only a hint: a ticket read in
    vain costs a row, never a wrong answer (what a transaction reads is its own)."""

    def __init__(self) -> None:
        self._tickets: dict[str, tuple[str, ...]] = {}

    async def prepare(self, _uow: NotifyUnitOfWork, envelopes: Sequence[Envelope]) -> None:
        """The runtime's ``Prepare``: the batch about to be applied (what is not applied
        again)."""
        tickets: dict[str, dict[str, None]] = {}
        for envelope in envelopes:
            event = envelope.event
            if not isinstance(event, DIRECTORY_EVENTS):  # keyed by tenant, about no ticket
                tickets.setdefault(event.tenant_id, {})[event.ticket_id] = None
        self._tickets = {tenant_id: tuple(ids) for tenant_id, ids in tickets.items()}

    def of(self, tenant_id: str) -> tuple[str, ...]:
        """The batch's tickets of the tenant."""
        return self._tickets.get(tenant_id, ())


def teaches(event: Event) -> bool:
    """Whether applying ``event`` changes what notify knows, whatever its settings."""
    return (
        isinstance(event, DIRECTORY_EVENTS)
        or (isinstance(event, EmailBounced) and event.permanent)
        or isinstance(event, TicketAssigned | TicketOffered)  # the agent is saved
        or learns_from_ticket(event)
        or bool(_learned(event, None))
    )


def _unneeded_check(
    unit_of_work: UnitOfWorkFactory,
) -> Callable[[Sequence[Envelope]], Awaitable[set[str]]]:
    async def unneeded(envelopes: Sequence[Envelope]) -> set[str]:
        # A batch with anything to write is applied whole: its transaction reads the settings
        # anyway, and an event that then notifies nobody costs it no statement of its own.
        if any(teaches(envelope.event) for envelope in envelopes):
            return set()
        # Nothing written, nothing claimed: as if applied at this read. Read again when
        # delivered again, so a replica's later change of settings is seen (versions).
        # Most often this process keeps the settings at the version read: no unit of work.
        kept = await unit_of_work().settings_if_kept(e.event.tenant_id for e in envelopes)
        if kept is not None:
            return {
                envelope.id
                for envelope in envelopes
                if not may_notify(envelope.type, envelope.event, *kept[envelope.event.tenant_id])
            }
        async with unit_of_work().read_only() as uow:
            unwanted = set()
            for envelope in envelopes:
                event = envelope.event
                subscriptions = await uow.subscriptions.for_tenant(event.tenant_id)
                endpoints = await uow.endpoints.for_tenant(event.tenant_id)
                if not may_notify(envelope.type, event, subscriptions, endpoints):
                    unwanted.add(envelope.id)
            return unwanted

    return unneeded


async def on_event(
    envelope: Envelope, uow: NotifyUnitOfWork, policy: EmailPolicy, composer: EmailComposer
) -> int:
    """Apply one event in a transaction of its own, as the consumer's one-by-one path does
    (tests, tools); return how many deliveries it queued."""
    if handler_table(policy, composer).get(envelope.type) is None:
        return 0
    queued = 0

    async def counted(uow: NotifyUnitOfWork, envelope: Envelope) -> None:
        nonlocal queued
        if isinstance(envelope.event, DIRECTORY_EVENTS):
            await apply_identity_event(uow, envelope)
        else:
            queued = await apply_event(uow, envelope, policy, composer)

    await apply_alone(HandlerTable(CONSUMER, {envelope.type: counted}), uow, envelope)
    return queued


async def apply_event(
    uow: NotifyUnitOfWork,
    envelope: Envelope,
    policy: EmailPolicy,
    composer: EmailComposer,
    *,
    along: Sequence[str] = (),
) -> int:
    """Learn from the event and queue (or suppress) what it notifies; return how many queued.
    The worker is woken when the transaction commits. ``along``: the other tickets of the
    tenant in the batch, read with the first of them."""
    event = envelope.event
    now = utcnow()
    if isinstance(event, EmailBounced) and event.permanent:
        await uow.suppressions.add(
            event.tenant_id,
            printable(str(event.address)),
            f"bounced {event.status or ''}".strip(),
            now,
        )
    else:
        if isinstance(event, TicketAssigned | TicketOffered):
            await uow.directory.save_agent(
                event.tenant_id,
                event.agent_id,
                printable(event.agent_name),
                printable(str(event.agent_email)),
            )
        # Every event that may notify reads its tenant's settings version, most read the ticket:
        # the transaction's first read takes both. Most lessons are the event's own facts,
        # written without looking at the ticket (``learned`` looks only when it must).
        before = await uow.tickets.get_with_settings_version(
            event.tenant_id,
            event.ticket_id,
            uow.settings_versions,
            needed=learns_from_ticket(event),
            along=along,
        )
        known = learned(event, before)
        if known:
            await uow.tickets.remember(event.tenant_id, event.ticket_id, known)
    subscriptions = await uow.subscriptions.for_tenant(event.tenant_id)
    endpoints = await uow.endpoints.for_tenant(event.tenant_id)
    if not may_notify(envelope.type, event, subscriptions, endpoints):
        return 0
    ticket = await uow.tickets.get(event.tenant_id, event.ticket_id)
    trace = dict(trace_headers())
    options = ComposeOptions(
        email_domain=policy.email_domain,
        recipient_cap=policy.recipient_cap,
        recipient_cap_since=now - policy.recipient_cap_window,
        reply_token_secret=policy.reply_token_secret,
    )
    queued: list[Delivery] = []
    not_sent: list[tuple[Delivery, NotSent]] = []
    targets = await without_author(
        uow,
        event,
        email_targets(
            envelope.type,
            event,
            ticket,
            subscriptions,
            escalation_email=policy.escalation_email,
            people=await role_people(
                uow, ticket, emailed_roles(envelope.type, event, ticket, subscriptions)
            ),
        ),
    )
    sender = await reply_sender(uow, event, ticket, policy.mail_from_address)
    for target in targets:
        outcome = await composer.compose(
            uow,
            envelope,
            ticket,
            target,
            options,
            now=now,
            trace=trace,
            sender=sender if target.label == "requester" else None,
        )
        if isinstance(outcome, NotSent):
            not_sent.append(
                (suppressed_delivery(envelope, "email", _label(target), outcome, now), outcome)
            )
        else:
            queued.append(outcome)
            ticket = composer.threaded(ticket, outcome)
    if ticket is not None and targets:
        await uow.tickets.remember(event.tenant_id, event.ticket_id, {"thread": ticket.thread})
    bodies: dict[bool, str] = {}
    for endpoint in webhook_targets(envelope.type, event, ticket, endpoints, subscriptions):
        if endpoint.personal_data not in bodies:
            bodies[endpoint.personal_data] = storable(
                webhook_body(envelope.type, envelope.time, event, endpoint.personal_data)
            )
        delivery = pending_delivery(
            envelope,
            "webhook",
            endpoint.id,
            payload=bodies[endpoint.personal_data],
            now=now,
            trace=trace,
            ordered=endpoint.ordered,
        )
        if endpoint.enabled:
            queued.append(delivery)
            continue
        # Kept with its body, so a replay after the endpoint is enabled again can send it.
        reason = NotSent(
            "disabled_endpoint", endpoint.disabled_reason or "the endpoint is disabled"
        )
        delivery.suppress(f"{reason.reason}: {reason.detail}")
        not_sent.append((delivery, reason))
    await uow.deliveries.add_all(queued + [delivery for delivery, _ in not_sent])
    for delivery, reason in not_sent:
        uow.publish(
            suppression_event(delivery, reason, now),
            event_id=derived_event_id("notification-suppressed", delivery.id),
        )
    if queued:
        uow.deliveries_queued(queued, {endpoint.id: endpoint for endpoint in endpoints})
    return len(queued)


def _label(target: EmailTarget) -> str:
    return target.address or f"role:{target.label}"
