"""The admin pages in a real browser: an API key is created, shown once, revoked and stops
working; every admin page passes the accessibility check."""

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from browser_support import axe_check, signed_in
from playwright.sync_api import Page, expect

from helpline_devstack.journeys import Helpline
from helpline_devstack.testing import unique_name, wait_until


def test_an_admin_creates_a_key_revokes_it_and_it_stops_working(
    page: Page, helpline: Helpline
) -> None:
    admin = helpline.person("admin", "Ada Admin")
    name = unique_name("Browser key").replace("_", " ")
    signed_in(page, helpline, admin)
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Admin", level=1)).to_be_visible()
    page.get_by_role("link", name="API keys").first.click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("tickets:read").check()
    page.get_by_role("button", name="Create key").click()
    page.wait_for_url("**/admin/keys/new")
    secret = page.get_by_label("Key", exact=True).input_value()
    assert secret
    axe_check(page)
    assert helpline.call(secret, "GET", "intake", "/v1/tickets").status_code == 200

    page.reload()  # shown once: never again
    expect(page.get_by_role("alert")).to_contain_text("shown once and cannot be shown again")
    assert secret not in page.content()

    page.goto(helpline.url("workspace") + "/admin/keys")
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("Active")
    assert secret not in page.content()
    row.get_by_role("link", name=f"Revoke {name}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Revoke the key “{name}”?")
    axe_check(page)
    page.get_by_role("button", name="Revoke the key").click()
    page.wait_for_url("**/admin/keys")
    expect(page.get_by_text(f"The key “{name}”")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("Revoked")

    wait_until(
        lambda: helpline.call(secret, "GET", "intake", "/v1/tickets").status_code == 401,
        10,
        "the revoked key to be refused",
    )


def test_every_admin_page_is_accessible_and_an_agent_is_kept_out(
    page: Page, helpline: Helpline
) -> None:
    admin = helpline.person("admin", "Alma Admin")
    signed_in(page, helpline, admin)
    for link, heading in (
        ("Users and roles", "Users and roles"),
        ("API keys", "API keys"),
        ("Webhooks", "Webhooks"),
        ("SLA policies", "SLA policies"),
        ("Routing rules", "Routing rules"),
    ):
        page.goto(helpline.url("workspace") + "/admin")
        axe_check(page)
        page.get_by_role("link", name=link).first.click()
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        axe_check(page)
    expect(page.get_by_label("Rules and default (JSON)")).to_contain_text('"rules"')

    page.get_by_label("Rules and default (JSON)").fill('{"rules": "not a list"}')
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_role("alert")).to_contain_text(
        re.compile(r"The rules were not saved: .*\brules\b")
    )  # the field the API refused is named

    agent = helpline.person("agent", "Abe Agent")
    other = page.context.browser
    assert other is not None
    agent_page = other.new_context().new_page()
    signed_in(agent_page, helpline, agent)
    answer = agent_page.goto(helpline.url("workspace") + "/admin/keys")
    assert answer is not None and answer.status == 403
    expect(agent_page.get_by_role("alert")).to_have_text("Only admins can open this page.")
    agent_page.context.close()


def test_an_admin_changes_a_persons_role(page: Page, helpline: Helpline) -> None:
    admin = helpline.person("admin", "Adele Admin")
    person = helpline.person("agent", unique_name("Role Change").replace("_", " "))
    signed_in(page, helpline, admin)
    page.goto(helpline.url("workspace") + "/admin/users")
    page.get_by_label(f"Role of {person['name']}").select_option("lead")
    page.get_by_role("button", name=f"Save {person['name']}").click()
    expect(page.get_by_text(f"{person['name']} is now lead, active.")).to_be_visible()
    assert helpline.admin("GET", "identity", f"/v1/users/{person['user_id']}")["role"] == "lead"


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1 that keeps each request's ``webhook-id`` and body."""

    received: list[tuple[str, str]]


class Hook(BaseHTTPRequestHandler):
    """Answer every webhook with 204, recording it."""

    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        self.server.received.append((self.headers.get("webhook-id", ""), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A running :class:`Receiver`."""
    server = Receiver(("127.0.0.1", 0), Hook)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_an_admin_sees_an_endpoints_deliveries_and_resends_one(
    page: Page, helpline: Helpline
) -> None:
    admin = helpline.person("admin", "Ava Admin")
    with receiver() as hooks:
        url = f"http://127.0.0.1:{hooks.server_address[1]}/hooks/{unique_name('admin')}"
        endpoint = helpline.admin(
            "POST", "notify", "/v1/webhook-endpoints", {"url": url, "event_types": ["*"]}
        )
        try:
            made = helpline.admin(
                "POST",
                "intake",
                "/v1/tickets",
                {
                    "subject": "Webhook please",
                    "description": "Tell the CRM.",
                    "requester": {"email": "hooked@customer.example"},
                    "priority": "low",
                },
            )

            def about_ticket() -> list[str]:
                return [hook_id for hook_id, body in hooks.received if made["id"] in body]

            wait_until(about_ticket, 20, "a webhook about the new ticket")

            signed_in(page, helpline, admin)
            page.goto(helpline.url("workspace") + "/admin/webhooks")
            page.get_by_role("link", name=url).click()
            expect(page.get_by_role("heading", name="Webhook endpoint", level=1)).to_be_visible()
            row = (
                page.get_by_role("row")
                .filter(has_text=made["id"])
                .filter(has_text="Delivered")
                .first
            )
            expect(row).to_be_visible()
            axe_check(page)
            before = len(about_ticket())
            row.get_by_role("button", name="Resend").click()
            expect(page.get_by_text("is queued to be sent again.")).to_be_visible()

            def resent() -> bool:
                sent = about_ticket()
                return len(sent) > before and any(sent.count(hook_id) >= 2 for hook_id in sent)

            wait_until(resent, 20, "one webhook sent again (the same webhook-id twice)")
        finally:
            helpline.admin("DELETE", "notify", f"/v1/webhook-endpoints/{endpoint['id']}")
