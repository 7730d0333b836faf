"""Issue 15's first acceptance in a real browser: an agent signs in, sees the assigned ticket
with its SLA badge on My work, opens it, replies with an attachment; the customer gets the
reply by email and the first-response clock is met. Tickets finds a ticket by its requester."""

from pathlib import Path
from urllib.parse import quote_plus

from agent_journeys import (
    FLOW,
    agent_with_own_skill,
    assigned,
    first_response,
    mail_saying,
    ticket_needing,
)
from browser_support import axe_check, screenshot, signed_in
from playwright.sync_api import Page, expect

from helpline_devstack.journeys import Helpline
from helpline_devstack.testing import wait_until

STEPS = b"1. Stop the export service.\n2. Start it again.\n"


def test_an_agent_replies_in_the_browser_and_the_customer_gets_it_by_mail(
    page: Page, helpline: Helpline
) -> None:
    agent, skill = agent_with_own_skill(helpline, "Ada Answer")
    subject = f"Nightly export fails ({skill})"
    ticket, customer = ticket_needing(
        helpline, skill, subject, "Since 4.2 the nightly export stops halfway."
    )
    assigned(helpline, ticket["id"], agent["agent_id"])

    signed_in(page, helpline, agent)
    link = page.get_by_role("link", name=subject)
    expect(link).to_be_visible()
    row = page.get_by_role("row").filter(has=link)
    expect(row).to_contain_text("First response:")
    expect(row).to_contain_text(" left")  # time left, in words
    axe_check(page)
    screenshot(page, "my-work")

    link.click()
    page.wait_for_url(f"**/tickets/{ticket['id']}")
    expect(page.get_by_role("heading", name=subject, level=1)).to_be_visible()
    expect(page.get_by_text("Since 4.2 the nightly export stops halfway.")).to_be_visible()
    axe_check(page)
    page.get_by_label("Message", exact=True).fill("Please restart the export service.")
    page.get_by_label("Attachments", exact=True).set_input_files(
        files=[{"name": "restart-steps.txt", "mimeType": "text/plain", "buffer": STEPS}]
    )
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#messages")).to_contain_text("Reply sent")
    reply = page.locator("article.message.reply").filter(
        has_text="Please restart the export service."
    )
    expect(reply).to_contain_text("Public reply")
    with page.expect_download() as download:
        reply.get_by_role("link", name="restart-steps.txt").click()
    assert Path(download.value.path()).read_bytes() == STEPS
    screenshot(page, "ticket")

    mail = wait_until(
        lambda: mail_saying(helpline, customer, "restart the export service"),
        FLOW,
        "the reply at the customer",
    )
    assert subject in str(mail["Subject"])
    assert (
        wait_until(
            lambda: first_response(helpline, ticket["id"]), FLOW, "the first-response clock stopped"
        )
        == "met"
    )
    page.reload()
    expect(page.locator("table").filter(has_text="First response")).to_contain_text("Met")


def test_tickets_finds_a_ticket_by_its_requester_with_a_shareable_url(
    page: Page, helpline: Helpline
) -> None:
    agent, skill = agent_with_own_skill(helpline, "Sam Search")
    subject = f"Invoice totals are wrong ({skill})"
    ticket, customer = ticket_needing(helpline, skill, subject, "The totals are off by one.")
    other = f"Invoice layout question ({skill})"
    ticket_needing(helpline, skill, other, "Someone else asks.")  # another requester
    assigned(helpline, ticket["id"], agent["agent_id"])

    signed_in(page, helpline, agent)
    page.get_by_role("link", name="Tickets").click()
    expect(page.get_by_role("heading", name="Tickets", level=1)).to_be_visible()
    axe_check(page)
    page.get_by_label("Search subject or requester").fill(customer)
    page.get_by_role("button", name="Show tickets").click()
    page.wait_for_url("**/tickets?q=*")
    assert page.url.endswith(f"/tickets?q={quote_plus(customer)}")  # only what was chosen
    expect(page.get_by_role("link", name=subject)).to_be_visible()
    expect(page.get_by_role("link", name=other)).to_have_count(0)
    expect(page.get_by_role("row")).to_have_count(2)  # the header and the one match
