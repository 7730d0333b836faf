"""Tickets: filters and search passed to intake as the contract names them, a shareable GET
form, cursor paging, assignees by name."""

import httpx
from agent_fakes import AGENT_ID, agent_of, ticket
from workspace_support import FakeServices, sign_in, workspace


def test_the_filters_go_to_intake_and_stay_in_the_form_and_the_next_page_link() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example", name="Ada Lovelace")
    agent_of(fake, ada)
    fake.route(
        "GET",
        "intake",
        "/v1/tickets",
        lambda request: {
            "items": [
                ticket("t-1", "Export fails", team="billing"),
                ticket("t-2", "Nobody's", assignee=None),
            ],
            "next_cursor": "c2",
        },
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get(
            "/tickets",
            params={
                "q": "  export   fails ",
                "status": "open",
                "priority": "high",
                "team": "billing",
                "unassigned": "true",
                "sla": "at_risk",
                "sort": "sla",
            },
        )
        assert page.status_code == 200
        [call] = [c for c in fake.calls if c.path == "/v1/tickets"]
        assert dict(call.request.url.params) == {
            "q": "export fails",
            "status": "open",
            "priority": "high",
            "team": "billing",
            "unassigned": "true",
            "sla": "at_risk",
            "sort": "sla",
            "limit": "25",
        }
        text = page.text
        assert 'method="get" action="/tickets"' in text
        assert 'value="export fails"' in text
        assert '<option value="high" selected>' in text
        assert '<option value="at_risk" selected>' in text
        assert 'id="unassigned" name="unassigned" type="checkbox" value="true" checked' in text
        assert (
            'href="/tickets?q=export+fails&amp;status=open&amp;priority=high&amp;'
            'team=billing&amp;unassigned=true&amp;sla=at_risk&amp;sort=sla&amp;cursor=c2"'
        ) in text
        assert "Ada Lovelace" in text  # the assignee by name, not agent id
        assert AGENT_ID not in text
        assert "Unassigned" in text


def test_the_next_page_asks_intake_with_the_cursor_and_offers_the_first_page() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example")
    agent_of(fake, ada)
    fake.route(
        "GET",
        "intake",
        "/v1/tickets",
        lambda request: {"items": [ticket("t-3")], "next_cursor": None},
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get("/tickets?status=open&cursor=c2")
        [call] = [c for c in fake.calls if c.path == "/v1/tickets"]
        assert call.request.url.params["cursor"] == "c2"
        assert 'href="/tickets?status=open">First page' in page.text
        assert "Next page" not in page.text


def test_unknown_filter_values_are_dropped_not_sent() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example")
    agent_of(fake, ada)
    fake.route("GET", "intake", "/v1/tickets", lambda request: {"items": [], "next_cursor": None})
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get(
            "/tickets?status=deleted&priority=meh&sla=soon&sort=random&q=" + "x" * 500
        )
        assert page.status_code == 200
        [call] = [c for c in fake.calls if c.path == "/v1/tickets"]
        assert dict(call.request.url.params) == {"q": "x" * 200, "limit": "25"}
        assert "No tickets match." in page.text


def test_a_refused_search_is_a_readable_message() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example")
    agent_of(fake, ada)
    fake.route(
        "GET",
        "intake",
        "/v1/tickets",
        lambda request: httpx.Response(
            422, json={"title": "Unprocessable", "detail": "cursor: not a cursor of this list"}
        ),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get("/tickets?cursor=garbage")
        assert page.status_code == 422
        assert "cursor: not a cursor of this list" in page.text
        assert "Traceback" not in page.text
