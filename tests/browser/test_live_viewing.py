"""Who else is on a ticket, in two real browsers: viewing, replying, and gone when they leave."""

from collections.abc import Callable
from typing import Any

from browser_support import axe_check, signed_in
from playwright.sync_api import Page, expect

from helpline_devstack.journeys import Helpline
from helpline_devstack.testing import unique_name


def test_a_second_browser_shows_who_else_is_viewing_and_replying(
    new_page: Callable[..., Page], helpline: Helpline
) -> None:
    skill = unique_name("viewing")
    ana = helpline.person("agent", "Ana Agent", skills={skill: 5})
    bob = helpline.person("agent", "Bob Builder", skills={unique_name("other"): 5})
    ticket: dict[str, Any] = helpline.admin(
        "POST",
        "intake",
        "/v1/tickets",
        {
            "subject": "Two people, one ticket",
            "description": "Who answers?",
            "requester": {"email": "cy@example.org"},
            "priority": "normal",
            "type": "question",
            "tags": [skill],
        },
    )
    url = helpline.url("workspace") + f"/tickets/{ticket['id']}"

    first = signed_in(new_page(), helpline, ana)
    first.goto(url)
    second = signed_in(new_page(), helpline, bob)
    second.goto(url)

    expect(second.get_by_text("Ana Agent is viewing")).to_be_visible()
    expect(first.get_by_text("Bob Builder is viewing")).to_be_visible()
    expect(first.get_by_text("Ana Agent is viewing")).to_have_count(0)  # not oneself
    axe_check(second)

    second.get_by_label("Message").press_sequentially("On it")
    expect(first.get_by_text("Bob Builder is replying")).to_be_visible()

    second.close()  # the connection ends: no waiting for the entry to expire
    expect(first.get_by_text("Bob Builder is")).to_have_count(0, timeout=10_000)
    axe_check(first)
