"""An offer is accepted from My work, as a plain form (an agent who answers offers)."""

from agent_journeys import FLOW, agent_with_own_skill, assigned, ticket_needing
from browser_support import axe_check, signed_in
from playwright.sync_api import Page, expect

from helpline_devstack.journeys import Helpline
from helpline_devstack.testing import wait_until


def test_an_agent_accepts_an_offer_on_my_work_and_the_ticket_becomes_theirs(
    page: Page, helpline: Helpline
) -> None:
    agent, skill = agent_with_own_skill(helpline, "Otto Offer", auto_accept=False)
    subject = f"Printer on fire ({skill})"
    ticket, _ = ticket_needing(helpline, skill, subject, "Smoke from tray 2.")

    def offered() -> bool:
        routing = helpline.call(
            helpline.admin_key, "GET", "routing", f"/v1/tickets/{ticket['id']}/routing"
        )
        return routing.status_code == 200 and routing.json()["state"] == "offered"

    wait_until(offered, FLOW, "the offer to the agent")

    signed_in(page, helpline, agent)
    offers = page.locator("#offers")
    expect(offers.get_by_role("link", name=subject)).to_be_visible()
    axe_check(page)
    offers.get_by_role("button", name=f"Accept {subject}").click()
    page.wait_for_url("**/work")
    expect(page.locator("#messages")).to_contain_text("Offer accepted")
    expect(offers.get_by_role("link", name=subject)).to_have_count(0)

    assigned(helpline, ticket["id"], agent["agent_id"])
    page.reload()
    mine = page.get_by_role("region", name="Assigned to me")
    expect(mine.get_by_role("link", name=subject)).to_be_visible()
