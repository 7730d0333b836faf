"""Issue 12's acceptance for agents who work by email, on everything ``make run`` starts.

Identity, intake, routing, escalation and notify as separate OS processes on the session's Kafka
and PostgreSQL, notify mailing into the devstack's mail sink and intake taking mail on its own
SMTP server. An agent answers the assignment mail through its signed ``Reply-To``: the customer
gets a person's reply. The same agent's address without the token reaches nobody.
"""

from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import pytest

from helpline_devstack.journeys import (
    DEMO_DOMAIN,
    DEMO_MAILBOX,
    DEMO_TENANT,
    PASSWORD,
    Helpline,
    running_helpline,
)
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.testing import unique_name, wait_until
from helpline_shared.reply_tokens import address_token

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

AGENT_NAME = "Ann Agent"
AGENT = "ann@agents.example"
CUSTOMER = "cy@customer.example"
FLOW = 30.0
"""Seconds any one hop of the journey may take (mail in, route, mail out)."""


@pytest.fixture(scope="module")
def helpline(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Helpline]:
    with running_helpline(
        kafka, postgres, tmp_path_factory.mktemp("dot-helpline"), stem="bymail"
    ) as running:
        yield running


def agent_signed_in(helpline: Helpline) -> tuple[str, str]:
    """An agent user, registered in routing as that user and available: (user id, token)."""
    user = helpline.admin(
        "POST",
        "identity",
        "/v1/users",
        {"name": AGENT_NAME, "email": AGENT, "role": "agent", "password": PASSWORD},
    )
    agent = helpline.admin(
        "POST",
        "routing",
        "/v1/agents",
        {
            "name": AGENT_NAME,
            "email": AGENT,
            "user_id": user["user_id"],
            "skills": {"exports": 5},
            "auto_accept": True,
        },
    )
    signed_in = httpx.post(
        helpline.url("identity") + "/v1/login",
        json={"tenant": DEMO_TENANT, "email": AGENT, "password": PASSWORD},
        timeout=10,
    )
    assert signed_in.status_code == 200, signed_in.text
    token: str = signed_in.json()["access_token"]
    present = helpline.call(
        token, "PUT", "routing", f"/v1/agents/{agent['id']}/presence", {"status": "available"}
    )
    assert present.status_code == 200, present.text  # the agent's own token, no admin scope
    known_to_notify(helpline, token, user["user_id"])
    return user["user_id"], token


def known_to_notify(helpline: Helpline, token: str, user_id: str) -> None:
    """Wait until notify has heard of the user from identity (it signs their Reply-To then):
    only a user it knows may watch a ticket, here one that does not exist."""
    probe = f"/v1/tickets/{unique_name('probe')}/watchers"
    wait_until(
        lambda: (
            helpline.call(token, "POST", "notify", probe, {"user_id": user_id}).status_code == 204
        ),
        FLOW,
        "notify to know the agent",
    )
    assert helpline.call(token, "DELETE", "notify", f"{probe}/{user_id}").status_code == 204


def customer_mail() -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Cy Customer <{CUSTOMER}>"
    message["To"] = DEMO_MAILBOX
    message["Subject"] = "Nightly export fails"
    message["Message-ID"] = make_msgid(domain="customer.example")
    message.set_content("Since the upgrade to 4.2 the nightly export stops halfway.")
    return message


def reply_to(original: EmailMessage, sender: str, recipient: str, text: str) -> EmailMessage:
    """A mail client's reply to ``original``: threaded to it, its text quoted below."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"Re: {original['Subject']}"
    message["Message-ID"] = make_msgid(domain="agents.example")
    message["In-Reply-To"] = str(original["Message-ID"])
    message["References"] = str(original["Message-ID"])
    quoted = "\n".join(f"> {line}" for line in plain(original).splitlines())
    message.set_content(f"{text}\n\nOn Mon, 30 Nov 2026, Helpline wrote:\n{quoted}\n")
    return message


def plain(mail: EmailMessage) -> str:
    """The text part of ``mail``."""
    body = mail.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def mail_saying(helpline: Helpline, address: str, words: str) -> EmailMessage | None:
    """The first mail to ``address`` whose text holds ``words``."""
    return next((mail for mail in helpline.mails_to(address) if words in plain(mail)), None)


def messages(helpline: Helpline, ticket_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = helpline.admin(
        "GET", "intake", f"/v1/tickets/{ticket_id}/messages"
    )
    return found


def test_an_agents_mailed_reply_reaches_the_customer_and_a_forged_from_reaches_nobody(
    helpline: Helpline,
) -> None:
    agent_user, agent_token = agent_signed_in(helpline)
    helpline.mail_in(customer_mail(), DEMO_MAILBOX)

    [assignment] = wait_until(lambda: helpline.mails_to(AGENT), FLOW, "the assignment mail")
    signed = str(assignment["Reply-To"])
    local, _, domain = signed.strip("<>").rpartition("@")
    assert (local.split("+")[0], domain) == ("support", DEMO_DOMAIN), signed
    assert address_token(signed.strip("<>")), f"no signed token in Reply-To: {signed}"
    ticket = wait_until(
        lambda: [
            t
            for t in helpline.admin("GET", "intake", "/v1/tickets")["items"]
            if t["requester"]["email"] == CUSTOMER
        ],
        FLOW,
        "the mailed ticket",
    )[0]

    helpline.mail_in(
        reply_to(
            assignment,
            f"{AGENT_NAME} <{AGENT}>",
            signed,
            "Please restart the export service, it resumes from 4.2.1.",
        ),
        signed.strip("<>"),
    )

    answer = wait_until(
        lambda: mail_saying(helpline, CUSTOMER, "restart the export"),
        FLOW,
        "the agent's reply at the customer",
    )
    assert "Auto-Submitted" not in answer, answer["Auto-Submitted"]
    assert answer["From"].addresses[0].display_name.startswith(f"{AGENT_NAME} via ")
    assert answer["From"].addresses[0].addr_spec == DEMO_MAILBOX
    text = plain(answer)
    assert "stops halfway" not in text and "wrote:" not in text, text  # the quote is cut
    [kept] = [
        m
        for m in messages(helpline, ticket["id"])
        if m["channel"] == "email" and m["author_role"] == "agent"
    ]
    assert kept["public"] and kept["body"] == (
        "Please restart the export service, it resumes from 4.2.1."
    )

    def first_response_state() -> str | None:
        metrics = helpline.admin("GET", "escalation", f"/v1/tickets/{ticket['id']}/sla")["metrics"]
        state = metrics.get("first_response", {}).get("state")
        return state if state in ("met", "breached") else None

    assert wait_until(first_response_state, FLOW, "the first response stopped") == "met"

    # The agent's own address, threaded to the ticket, but to the plain support address.
    mailed_before = len(helpline.sink.messages())
    helpline.mail_in(
        reply_to(answer, f"{AGENT_NAME} <{AGENT}>", DEMO_MAILBOX, "Refund granted, 500 EUR."),
        DEMO_MAILBOX,
    )
    forged = wait_until(
        lambda: [m for m in messages(helpline, ticket["id"]) if "Refund granted" in m["body"]],
        FLOW,
        "the forged mail kept",
    )
    assert [(m["public"], m["author_role"], m["author_id"]) for m in forged] == [
        (False, "requester", None)
    ]
    assert forged[0]["body"].startswith("[Kept internal, not sent to the customer")

    # A later public reply on the same ticket reaches the customer: notify has passed the
    # forged message's event by then (one ticket's events keep their order).
    later = helpline.call(
        agent_token,
        "POST",
        "intake",
        f"/v1/tickets/{ticket['id']}/messages",
        {"body": "Any news after the restart?", "public": True},
    )
    assert later.status_code == 201, later.text
    wait_until(
        lambda: mail_saying(helpline, CUSTOMER, "Any news"), FLOW, "the later reply at the customer"
    )
    sent_since = [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in helpline.sink.messages()[mailed_before:]
    ]
    assert {str(m["To"]) for m in sent_since} == {CUSTOMER}  # the agent got nothing either
    assert not any("Refund granted" in m.as_string() for m in sent_since)

    def mail_audit() -> list[tuple[str, str]] | None:
        entries = helpline.admin(
            "GET",
            "identity",
            "/v1/audit",
            None,
            {"action": "ticket.message.email", "target": f"ticket:{ticket['id']}"},
        )["entries"]
        return sorted((e["actor"], e["outcome"]) for e in entries) if len(entries) == 2 else None

    assert wait_until(mail_audit, FLOW, "both mails in the audit trail") == [
        (f"mail:{AGENT}", "denied"),
        (f"user:{agent_user}", "ok"),
    ]
