"""What notifications say: an email template per event type and the Standard Webhooks body.

Plain string formatting for now; per-tenant and per-language templates come later.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from helpline_notify.domain.model import TicketView, ticket_token
from helpline_shared.events import Event, SlaBreached, TicketAssigned

UNKNOWN_SUBJECT = "(subject not known yet)"
SIGNATURE = "\n-- \nHelpline (automatic message; replies reach the ticket)\n"

ASSIGNED_SUBJECT = "{token} Assigned to you: {subject}"
ASSIGNED_BODY = """Hello {agent_name},

ticket {token} "{subject}" is now assigned to you.

Why you: {reason}
Skills asked for: {skills}
"""

BREACHED_SUBJECT = "{token} SLA breached ({metric}): {subject}"
BREACHED_BODY = """Hello {recipient_name},

the {metric} deadline of ticket {token} "{subject}" passed at {deadline} without being met.

Reason: {reason}
"""


@dataclass(frozen=True)
class EmailContent:
    """Subject and text body of one notification email."""

    subject: str
    text: str


def _one_line(text: str) -> str:
    # A header value must not contain line breaks (RFC 5322 2.2); a ticket subject may.
    return " ".join(text.split())


def _subject(ticket: TicketView | None) -> str:
    subject = ticket.subject if ticket and ticket.subject else UNKNOWN_SUBJECT
    return _one_line(subject)


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def assigned_email(event: TicketAssigned, ticket: TicketView | None) -> EmailContent:
    """The email telling an agent that a ticket is theirs now."""
    values = {
        "token": ticket_token(event.ticket_id),
        "subject": _subject(ticket),
        "agent_name": event.agent_name,
        "reason": event.reason,
        "skills": ", ".join(event.required_skills) or "none",
    }
    return EmailContent(
        subject=_one_line(ASSIGNED_SUBJECT.format(**values)),
        text=ASSIGNED_BODY.format(**values) + SIGNATURE,
    )


def breached_email(event: SlaBreached, ticket: TicketView | None) -> EmailContent:
    """The email telling the assignee (or the escalation address) that an SLA was missed."""
    recipient_name = ticket.assignee_name if ticket and ticket.assignee_name else "team"
    values = {
        "token": ticket_token(event.ticket_id),
        "subject": _subject(ticket),
        "metric": event.metric.replace("_", " "),
        "deadline": _utc(event.deadline),
        "reason": event.reason,
        "recipient_name": recipient_name,
    }
    return EmailContent(
        subject=_one_line(BREACHED_SUBJECT.format(**values)),
        text=BREACHED_BODY.format(**values) + SIGNATURE,
    )


def webhook_body(event_type: str, occurred: datetime, event: Event) -> str:
    """The Standard Webhooks JSON body: the event's type, time and data."""
    return json.dumps(
        {
            "type": event_type,
            "timestamp": occurred.isoformat().replace("+00:00", "Z"),
            "data": event.model_dump(mode="json"),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
