"""Turning one email target into a threaded, rendered delivery, or the reason it is not sent."""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from helpline_notify.domain.errors import InvalidTemplate
from helpline_notify.domain.model import REPLACEMENT, Delivery, TicketView, printable
from helpline_notify.domain.people import Person
from helpline_notify.domain.planning import (
    EmailTarget,
    attached_files,
    delivery_id,
    loop_capped,
    pending_delivery,
)
from helpline_notify.domain.templates import (
    ACKNOWLEDGEMENT_TYPES,
    DEFAULT_LANGUAGE,
    DEFAULT_TEMPLATES,
    HUMAN_REPLY_TEMPLATE,
    TemplateSource,
    template_context,
    with_token,
)
from helpline_notify.domain.threading import domain_of, outbound_message_id, thread_headers
from helpline_notify.service_layer.ports import TemplateRenderer
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.envelope import Envelope
from helpline_shared.inputs import has_unsafe_characters
from helpline_shared.reply_tokens import reply_address, reply_token

SuppressionReason = Literal[
    "suppressed_address",
    "loop_cap",
    "no_template",
    "disabled_endpoint",
    "no_recipient",
]


@dataclass(frozen=True)
class NotSent:
    """Why a notification is not sent (a ``NotificationSuppressed`` reason and detail)."""

    reason: SuppressionReason
    detail: str


@dataclass(frozen=True)
class ComposeOptions:
    """Where our Message-IDs live and how much mail one address may get per window."""

    email_domain: str
    recipient_cap: int
    recipient_cap_since: datetime
    reply_token_secret: str = ""
    """Signs the reply addresses of mail to the tenant's people (empty: no signed Reply-To)."""


def staff_reply_to(
    mailbox: str | None, person: Person | None, target: EmailTarget, ticket_id: str, secret: str
) -> str | None:
    """Where a reply to this mail goes: for one of the tenant's people (not as the requester), the
    mailbox with their signed token, so that intake takes it as theirs; else the mailbox."""
    if not (mailbox and person and secret) or target.label == "requester":
        return mailbox
    try:
        token = reply_token(secret, person.tenant_id, ticket_id, person.user_id)
    except ValueError:
        return mailbox  # a user id that is no UUID cannot be carried in a token
    return reply_address(mailbox, token)


class EmailComposer:
    """Checks suppression and the loop cap, picks the template, renders, threads."""

    def __init__(self, renderer: TemplateRenderer) -> None:
        self._renderer = renderer

    async def template(
        self, uow: NotifyUnitOfWork, tenant_id: str, event_type: str, language: str | None
    ) -> TemplateSource | None:
        """The tenant's template in the ticket's language, then in English, then the default."""
        for wanted in dict.fromkeys((language or DEFAULT_LANGUAGE, DEFAULT_LANGUAGE)):
            source = await uow.templates.get(tenant_id, event_type, wanted)
            if source is not None:
                return source
        return DEFAULT_TEMPLATES.get(event_type)

    async def compose(
        self,
        uow: NotifyUnitOfWork,
        envelope: Envelope,
        ticket: TicketView | None,
        target: EmailTarget,
        options: ComposeOptions,
        *,
        now: datetime,
        trace: dict[str, str],
        sender: str | None = None,
    ) -> Delivery | NotSent:
        """The delivery of one email, or why it is not sent; ``sender`` is the ``From`` of a
        person's reply (mailed as theirs: not automatic, not capped)."""
        event = envelope.event
        address = target.address
        if not address:
            return NotSent("no_recipient", f"no {target.label} address is known for the ticket")
        if has_unsafe_characters(address) or REPLACEMENT in address:
            return NotSent(
                "no_recipient",
                f"the {target.label} address {printable(address)!r} "
                "holds control characters and cannot be mailed",
            )
        capped = loop_capped(event, target, human=sender is not None)
        recent = 0
        if capped:  # the cap's count read with the address's person and suppression
            person, reason, recent = await uow.directory.capped_recipient(
                event.tenant_id,
                address,
                uow.suppressions,
                uow.deliveries,
                options.recipient_cap_since,
                options.recipient_cap,
            )
        else:
            person, reason = await uow.directory.recipient(
                event.tenant_id, address, uow.suppressions
            )
        if person is not None and not person.active:
            return NotSent("no_recipient", f"{address} belongs to a deactivated user")
        if reason is not None:
            return NotSent("suppressed_address", f"{address} is suppressed: {reason}")
        if capped and recent >= options.recipient_cap:
            return NotSent("loop_cap", f"{address} already got {recent} emails in the window")
        language = ticket.language if ticket else None
        source = await self.template(uow, event.tenant_id, envelope.type, language)
        if source is None:
            return NotSent("no_template", f"no template for {envelope.type}")
        if sender is not None and source is DEFAULT_TEMPLATES.get(envelope.type):
            source = HUMAN_REPLY_TEMPLATE
        try:
            content = await self._renderer.render(source, template_context(event, ticket, address))
        except InvalidTemplate as error:
            return NotSent("no_template", f"the template of {envelope.type} failed: {error}")
        mailbox = ticket.mailbox if ticket else None
        message_id = outbound_message_id(
            delivery_id(envelope.id, "email", address), domain_of(mailbox, options.email_domain)
        )
        headers = thread_headers(
            message_id,
            ticket.thread if ticket else (),
            acknowledgement=envelope.type in ACKNOWLEDGEMENT_TYPES,
            reply_to=staff_reply_to(
                mailbox, person, target, event.ticket_id, options.reply_token_secret
            ),
            automatic=sender is None,
        )
        if sender is not None:
            headers["From"] = sender
        # The event's own text may carry control characters: they go neither out nor to the DB.
        return pending_delivery(
            envelope,
            "email",
            address,
            payload=printable(content.text),
            now=now,
            trace=trace,
            subject=printable(with_token(content.subject, event.ticket_id))[:998],
            html=printable(content.html) if content.html is not None else None,
            headers=headers,
            attachments=attached_files(event) if sender is not None else None,
        )

    @staticmethod
    def threaded(ticket: TicketView | None, delivery: Delivery) -> TicketView | None:
        """The ticket with ``delivery``'s Message-ID appended to its thread."""
        if ticket is None or delivery.message_id is None:
            return ticket
        return replace(ticket, thread=(*ticket.thread, delivery.message_id))
