"""An internal note never reaches the customer, and the ticket page says it is internal."""

from agent_journeys import (
    FLOW,
    agent_with_own_skill,
    assigned,
    mail_saying,
    plain,
    ticket_needing,
)
from browser_support import signed_in
from playwright.sync_api import Page, expect

from helpline_devstack.journeys import Helpline
from helpline_devstack.testing import wait_until


def test_an_internal_note_is_labelled_internal_and_mailed_to_nobody(
    page: Page, helpline: Helpline
) -> None:
    agent, skill = agent_with_own_skill(helpline, "Nora Note")
    subject = f"Refund request ({skill})"
    ticket, customer = ticket_needing(helpline, skill, subject, "Please refund order 42.")
    assigned(helpline, ticket["id"], agent["agent_id"])
    note = f"Refund approved internally {skill}, do not promise a date"

    signed_in(page, helpline, agent)
    page.goto(helpline.url("workspace") + f"/tickets/{ticket['id']}")
    page.get_by_label("Internal note (agents only)").check()
    page.get_by_label("Message", exact=True).fill(note)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#messages")).to_contain_text("Internal note added")
    shown = page.locator("article.message").filter(has_text=note)
    expect(shown).to_contain_text("Internal note")
    expect(shown).to_contain_text("not sent to the customer")
    expect(page.get_by_label("Reply (the customer gets it by email)")).to_be_checked()

    # A public reply after the note: once it reached the customer, notify has passed the
    # note's event too (one ticket's events keep their order).
    page.get_by_label("Message", exact=True).fill("We are on it.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#messages")).to_contain_text("Reply sent")
    wait_until(
        lambda: mail_saying(helpline, customer, "We are on it."),
        FLOW,
        "the later reply at the customer",
    )
    to_customer = helpline.mails_to(customer)
    assert to_customer and not [
        mail
        for mail in to_customer
        if "Refund approved" in plain(mail) or "Refund approved" in mail.as_string()
    ]
    [kept] = [
        m
        for m in helpline.admin("GET", "intake", f"/v1/tickets/{ticket['id']}/messages")
        if m["body"] == note
    ]
    assert kept["public"] is False
