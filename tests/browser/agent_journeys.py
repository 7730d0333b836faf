"""What the agent browser tests share: a ticket routed to one agent (a skill only they have),
mail to the customer, the SLA clocks as escalation reports them."""

from email.message import EmailMessage
from typing import Any

from helpline_devstack.journeys import Helpline
from helpline_devstack.testing import unique_name, wait_until

FLOW = 30.0
"""Seconds any one hop may take (route, mail out, clock stopped)."""


def agent_with_own_skill(
    helpline: Helpline, name: str, *, auto_accept: bool = True
) -> tuple[dict[str, Any], str]:
    """An available agent with a skill nobody else has: (the person, the skill)."""
    skill = unique_name("skill")
    return helpline.person("agent", name, skills={skill: 5}, auto_accept=auto_accept), skill


def ticket_needing(
    helpline: Helpline, skill: str, subject: str, description: str
) -> tuple[dict[str, Any], str]:
    """A ticket by API whose tag is ``skill`` (so it routes to its one agent): (ticket,
    the requester's address)."""
    requester = f"{unique_name('cy')}@customer.example"
    ticket: dict[str, Any] = helpline.admin(
        "POST",
        "intake",
        "/v1/tickets",
        {
            "subject": subject,
            "description": description,
            "priority": "high",
            "requester": {"email": requester, "name": "Cy Customer"},
            "tags": [skill],
        },
    )
    return ticket, requester


def assigned(helpline: Helpline, ticket_id: str, agent_id: str) -> dict[str, Any]:
    """Wait until intake shows the ticket assigned to ``agent_id`` with its SLA clock."""

    def probe() -> dict[str, Any] | None:
        ticket: dict[str, Any] = helpline.admin("GET", "intake", f"/v1/tickets/{ticket_id}")
        return ticket if ticket["assignee"] == agent_id and ticket["sla"] else None

    return wait_until(probe, FLOW, "the ticket assigned, with its SLA clock")


def plain(mail: EmailMessage) -> str:
    """The text part of ``mail``."""
    body = mail.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def mail_saying(helpline: Helpline, address: str, words: str) -> EmailMessage | None:
    """The first mail to ``address`` whose text holds ``words``."""
    return next((mail for mail in helpline.mails_to(address) if words in plain(mail)), None)


def first_response(helpline: Helpline, ticket_id: str) -> str | None:
    """The first-response clock's state once it stopped (met or breached), else None."""
    metrics = helpline.admin("GET", "escalation", f"/v1/tickets/{ticket_id}/sla")["metrics"]
    state = metrics.get("first_response", {}).get("state")
    return state if state in ("met", "breached") else None
