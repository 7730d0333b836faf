"""What the browser tests share besides fixtures: sign-in through the form, the axe-core check,
screenshots for the README."""

from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from helpline_devstack.journeys import PASSWORD, Helpline

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SERIOUS = ("serious", "critical")


def signed_in(
    page: Page, helpline: Helpline, person: dict[str, Any], password: str = PASSWORD
) -> Page:
    """Sign ``person`` in through the workspace's sign-in form; the page lands on My work."""
    page.goto(helpline.url("workspace") + "/")
    page.get_by_label("Organisation").fill(helpline.tenant)
    page.get_by_label("Email").fill(person["email"])
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/work")
    return page


def axe_check(page: Page) -> None:
    """Fail on any serious or critical axe-core violation of the page as it is now."""
    results = Axe().run(page)
    serious = [
        violation
        for violation in results.response["violations"]
        if violation.get("impact") in SERIOUS
    ]
    assert not serious, "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node.get("target")) for node in v["nodes"][:5])
        for v in serious
    )


def screenshot(page: Page, name: str) -> Path:
    """Save the page as ``docs/screenshots/<name>.png`` (shown in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
