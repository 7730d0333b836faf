"""What notifications say: template sources (defaults and the tenant's) and the webhook body.

Templates are Jinja2 sources rendered in a sandbox by ``adapters/rendering.py``; the HTML part is
autoescaped, the subject and text part are not. Every template sees ``ticket``, ``event``,
``recipient`` and ``token``.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from helpline_notify.domain.model import TicketView
from helpline_notify.domain.privacy import without_personal_data
from helpline_shared.events import Event
from helpline_shared.ticket_token import ticket_token

DEFAULT_LANGUAGE = "en"
UNKNOWN_SUBJECT = "(subject not known yet)"
_FOOTER = "\n-- \nHelpline (automatic message)\n"
_REPLYABLE_FOOTER = "\n-- \nHelpline (automatic message; replies reach the ticket)\n"


@dataclass(frozen=True)
class TemplateSource:
    """The Jinja2 sources of one email: subject, text part and (optional) HTML part."""

    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class EmailContent:
    """A rendered email: subject, text body and HTML body."""

    subject: str
    text: str
    html: str | None = None


def _html(text: str) -> str:
    paragraphs = "".join(f"<p>{part}</p>" for part in text.strip().split("\n\n"))
    return f"<html><body>{paragraphs}</body></html>"


def _source(subject: str, text: str, replies: bool = False, footer: bool = True) -> TemplateSource:
    ending = "" if not footer else _REPLYABLE_FOOTER if replies else _FOOTER
    return TemplateSource(subject=subject, text=text + ending, html=_html(text))


DEFAULT_TEMPLATES: dict[str, TemplateSource] = {
    "helpline.ticket.created.v1": _source(
        "{{ token }} We received your request: {{ ticket.subject }}",
        "Hello {{ ticket.requester_name or 'there' }},\n\nwe received your request "
        '"{{ ticket.subject }}" and will answer soon.\n\nReference: {{ token }}',
        replies=True,
    ),
    "helpline.ticket.message_added.v1": _source(
        "Re: {{ token }} {{ ticket.subject }}",
        "{{ event.body }}",
        replies=True,
    ),
    "helpline.ticket.assigned.v1": _source(
        "{{ token }} Assigned to you: {{ ticket.subject }}",
        'Hello {{ event.agent_name }},\n\nticket {{ token }} "{{ ticket.subject }}" is now '
        "assigned to you.\n\nWhy you: {{ event.reason }}\n"
        "Skills asked for: {{ event.required_skills | join(', ') or 'none' }}",
    ),
    "helpline.ticket.offered.v1": _source(
        "{{ token }} Offered to you: {{ ticket.subject }}",
        'Hello {{ event.agent_name }},\n\nticket {{ token }} "{{ ticket.subject }}" is offered '
        "to you until {{ event.expires_at }}. Accept or decline it in Helpline.",
    ),
    "helpline.sla.warning.v1": _source(
        "{{ token }} SLA deadline near ({{ event.metric | replace('_', ' ') }}): "
        "{{ ticket.subject }}",
        "Hello {{ ticket.assignee_name or 'team' }},\n\nthe {{ event.metric | replace('_', ' ') }}"
        ' deadline of ticket {{ token }} "{{ ticket.subject }}" is {{ event.deadline }}.',
    ),
    "helpline.sla.breached.v1": _source(
        "{{ token }} SLA breached ({{ event.metric | replace('_', ' ') }}): {{ ticket.subject }}",
        "Hello {{ ticket.assignee_name or 'team' }},\n\nthe {{ event.metric | replace('_', ' ') }}"
        ' deadline of ticket {{ token }} "{{ ticket.subject }}" passed at {{ event.deadline }}'
        " without being met.\n\nReason: {{ event.reason }}",
    ),
    "helpline.sla.escalated.v1": _source(
        "{{ token }} Escalated (level {{ event.level }}, "
        "{{ event.metric | replace('_', ' ') }}): {{ ticket.subject }}",
        'Hello,\n\nticket {{ token }} "{{ ticket.subject }}" reached escalation level '
        "{{ event.level }} for its {{ event.metric | replace('_', ' ') }} deadline "
        "({{ event.deadline }}).\n\nReason: {{ event.reason }}",
    ),
    "helpline.webhook_endpoint.disabled": _source(
        "Webhook endpoint disabled: {{ event.url }}",
        "Hello,\n\nthe webhook endpoint {{ event.url }} ({{ event.endpoint_id }}) failed every "
        "delivery since {{ event.failing_since }} and was disabled.\n\nLast error: "
        "{{ event.error }}\n\nFix it, enable it again and replay the failed messages.",
    ),
}
"""The built-in templates, in English, by the event type that triggers them."""

HUMAN_REPLY_TEMPLATE = _source(
    "Re: {{ token }} {{ ticket.subject }}", "{{ event.body }}", footer=False
)
"""A person's reply when the tenant has no template of its own: their words, no robot footer."""

BUILT_IN_TEMPLATES: frozenset[TemplateSource] = frozenset(
    {*DEFAULT_TEMPLATES.values(), HUMAN_REPLY_TEMPLATE}
)
"""Helpline's own templates: code of ours, not a tenant's (compared by value, so a tenant's copy
of one is the same trusted text)."""

ACKNOWLEDGEMENT_TYPES = frozenset({"helpline.ticket.created.v1"})
"""Mail answering the customer's own mail automatically: ``Auto-Submitted: auto-replied``."""


def one_line(text: str) -> str:
    """``text`` without line breaks: a header value must not contain them (RFC 5322 2.2)."""
    return " ".join(text.split())


def with_token(subject: str, ticket_id: str) -> str:
    """The subject, carrying the ticket token that intake parses (added in front if missing)."""
    token = ticket_token(ticket_id)
    subject = one_line(subject)
    return subject if token in subject else f"{token} {subject}"


def _context(
    ticket: TicketView, event: dict[str, Any], recipient: str, ticket_id: str
) -> dict[str, Any]:
    ticket_values = {
        "id": ticket.ticket_id,
        "subject": ticket.subject or UNKNOWN_SUBJECT,
        "requester_email": ticket.requester_email,
        "requester_name": ticket.requester_name,
        "assignee_name": ticket.assignee_name,
        "priority": ticket.priority,
        "type": ticket.type,
    }
    return {
        "ticket": ticket_values,
        "event": event,
        "recipient": recipient,
        "token": ticket_token(ticket_id),
    }


def template_context(event: Event, ticket: TicketView | None, recipient: str) -> dict[str, Any]:
    """What a template may use: the ticket as notify knows it, the event, the recipient."""
    known = ticket or TicketView(ticket_id=event.ticket_id, tenant_id=event.tenant_id)
    return _context(known, event.model_dump(mode="json"), recipient, event.ticket_id)


_SAMPLE_TICKET = TicketView(
    ticket_id="0b5e7a52-6c1d-4f00-9a3e-2f7d1c0e8b11",
    tenant_id="sample",
    subject="Printer on fire",
    requester_email="carol@customer.example",
    requester_name="Carol",
    assignee_name="Ann",
    priority="high",
    type="incident",
)
_SAMPLE_EVENT: dict[str, Any] = {
    "ticket_id": _SAMPLE_TICKET.ticket_id,
    "tenant_id": "sample",
    "occurred_at": "2026-03-02T09:30:00Z",
    "subject": "Printer on fire",
    "description": "Smoke everywhere",
    "body": "Try turning it off and on again.",
    "agent_id": "agent-ann",
    "agent_name": "Ann",
    "agent_email": "ann@example.com",
    "reason": "best printers skill",
    "required_skills": ["printers"],
    "expires_at": "2026-03-02T09:35:00Z",
    "metric": "first_response",
    "deadline": "2026-03-02T10:30:00Z",
    "level": 1,
    "priority": "high",
    "type": "incident",
    "url": "https://hooks.example.com/in",
    "endpoint_id": "endpoint-1",
    "error": "HTTP 500",
    "failing_since": "2026-03-01T09:30:00Z",
}


def sample_context(event_type: str) -> dict[str, Any]:
    """Plausible data of an event of ``event_type``: a template is tried on it when saved."""
    return _context(
        _SAMPLE_TICKET,
        {**_SAMPLE_EVENT, "event_type": event_type},
        "carol@customer.example",
        _SAMPLE_TICKET.ticket_id,
    )


def webhook_body(
    event_type: str, occurred: datetime, event: Event, personal_data: bool = True
) -> str:
    """The Standard Webhooks JSON body: the event's type, time and data (maybe without PII)."""
    data = event.model_dump(mode="json")
    return json.dumps(
        {
            "type": event_type,
            "timestamp": occurred.isoformat().replace("+00:00", "Z"),
            "data": data if personal_data else without_personal_data(data),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
