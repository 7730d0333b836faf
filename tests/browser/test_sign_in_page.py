"""The workspace in a real browser: a person signs in with the keyboard and out again."""

from browser_support import axe_check, signed_in
from playwright.sync_api import Page, expect

from helpline_devstack.journeys import Helpline


def test_an_agent_signs_in_with_the_keyboard_and_signs_out(page: Page, helpline: Helpline) -> None:
    agent = helpline.person("agent", "Kim Keyboard")
    page.goto(helpline.url("workspace") + "/")
    expect(page.get_by_role("heading", name="Sign in to Helpline")).to_be_visible()
    axe_check(page)
    page.get_by_label("Organisation").fill(helpline.tenant)
    page.keyboard.press("Tab")
    page.keyboard.type(agent["email"])
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery staple")
    page.keyboard.press("Enter")
    page.wait_for_url("**/work")
    expect(page.get_by_role("heading", name="My work", level=1)).to_be_visible()
    expect(page.get_by_text("Kim Keyboard")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    page.goto(helpline.url("workspace") + "/work")
    page.wait_for_url("**/signin?next=/work")


def test_a_wrong_password_is_said_plainly(page: Page, helpline: Helpline) -> None:
    agent = helpline.person("agent")
    page.goto(helpline.url("workspace") + "/signin")
    page.get_by_label("Organisation").fill(helpline.tenant)
    page.get_by_label("Email").fill(agent["email"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong tenant, email or password.")
    assert signed_in  # the helper the other tests use
