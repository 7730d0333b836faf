"""My work: my open tickets by the next SLA deadline with their badges, and my offers with
Accept and Decline that work as plain forms."""

import httpx
from agent_fakes import AGENT_ID, agent_of, at, json_body, running, ticket
from workspace_support import FakeServices, csrf_of, sign_in, workspace


def my_tickets(fake: FakeServices, tickets: list[dict[str, object]]) -> None:
    """Intake answers My work's calls (one per open status) from ``tickets``."""

    def answer(request: httpx.Request) -> dict[str, object]:
        params = request.url.params
        return {
            "items": [
                t
                for t in tickets
                if t["status"] == params.get("status") and t["assignee"] == params.get("assignee")
            ],
            "next_cursor": None,
        }

    fake.route("GET", "intake", "/v1/tickets", answer)


def test_my_tickets_come_soonest_deadline_first_each_with_a_badge_in_words() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example", name="Ada")
    agent_of(fake, ada)
    fake.route("GET", "routing", "/v1/offers", lambda request: [])
    my_tickets(
        fake,
        [
            ticket("t-later", "Later one", sla={"first_response": running(5)}),
            ticket(
                "t-paused",
                "Waiting on customer",
                status="pending",
                sla={"first_response": {"state": "paused", "deadline": None}},
            ),
            ticket("t-soon", "Soon one", sla={"first_response": running(0.5)}),
            ticket(
                "t-late",
                "Late one",
                status="on_hold",
                sla={
                    "resolution": {"state": "breached", "deadline": at(hours=-1), "breached": True}
                },
            ),
            ticket("t-other", "Someone else's", assignee="agt_other"),
        ],
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get("/work")
        assert page.status_code == 200
        text = page.text
        order = [
            text.index(subject)
            for subject in ("Late one", "Soon one", "Later one", "Waiting on customer")
        ]
        assert order == sorted(order)  # breached (oldest deadline) first, the paused one last
        assert "Someone else" not in text
        assert "Breached: resolution" in text
        assert "First response: At risk: 30 min left" in text
        assert "First response: 5 h 00 min left" in text
        assert "First response: paused" in text
        calls = [c for c in fake.calls if c.service == "intake" and c.path == "/v1/tickets"]
        assert sorted(c.request.url.params["status"] for c in calls) == [
            "new",
            "on_hold",
            "open",
            "pending",
        ]
        assert {c.request.url.params["assignee"] for c in calls} == {AGENT_ID}
        assert {c.request.url.params["sort"] for c in calls} == {"sla"}


def test_pending_offers_show_the_subject_from_intake_with_accept_and_decline() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example", name="Ada")
    agent_of(fake, ada)
    my_tickets(fake, [])
    fake.route(
        "GET",
        "routing",
        "/v1/offers",
        lambda request: [
            {
                "id": "off-1",
                "ticket_id": "t-offered",
                "agent_id": AGENT_ID,
                "state": "offered",
                "created_at": at(minutes=-1),
                "expires_at": at(minutes=4),
                "decided_at": None,
            }
        ],
    )
    fake.route(
        "GET",
        "intake",
        "/v1/tickets/t-offered",
        lambda request: ticket("t-offered", "Printer on fire", assignee=None),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get("/work")
        assert "Printer on fire" in page.text
        assert 'action="/offers/off-1/accept"' in page.text
        assert 'action="/offers/off-1/decline"' in page.text
        assert 'hx-trigger="live-work from:body" hx-select="#work-lists"' in page.text
        [offers] = [c for c in fake.calls if c.path == "/v1/offers"]
        assert dict(offers.request.url.params) == {"agent_id": AGENT_ID, "status": "pending"}


def test_accepting_an_offer_posts_to_routing_and_comes_back_with_a_message() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example", name="Ada")
    agent_of(fake, ada)
    my_tickets(fake, [])
    fake.route("GET", "routing", "/v1/offers", lambda request: [])
    fake.route("POST", "routing", "/v1/offers/off-1/accept", lambda request: {"id": "off-1"})
    fake.route("POST", "routing", "/v1/offers/off-2/decline", lambda request: {"id": "off-2"})
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        token = csrf_of(client, "/work")
        accepted = client.post("/offers/off-1/accept", data={"csrf_token": token})
        assert (accepted.status_code, accepted.headers["location"]) == (303, "/work")
        assert "Offer accepted" in client.get("/work").text
        declined = client.post("/offers/off-2/decline", data={"csrf_token": token})
        assert declined.status_code == 303
        [decline] = [c for c in fake.calls if c.path == "/v1/offers/off-2/decline"]
        assert json_body(decline.request) == {}
        assert "Offer declined" in client.get("/work").text


def test_an_offer_answer_without_the_csrf_token_is_refused_and_never_reaches_routing() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example")
    agent_of(fake, ada)
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        answer = client.post("/offers/off-1/accept", data={"csrf_token": "forged"})
        assert answer.status_code == 403
        assert "did not come from this site" in answer.text
        assert not [c for c in fake.calls if c.path.startswith("/v1/offers/")]


def test_an_offer_no_longer_open_is_said_plainly() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example")
    agent_of(fake, ada)
    my_tickets(fake, [])
    fake.route("GET", "routing", "/v1/offers", lambda request: [])
    fake.route(
        "POST",
        "routing",
        "/v1/offers/off-1/accept",
        lambda request: httpx.Response(
            409, json={"title": "Conflict", "detail": "the offer is no longer open"}
        ),
    )
    fake.route(
        "POST",
        "routing",
        "/v1/offers/off-2/accept",
        lambda request: httpx.Response(
            403, json={"title": "Forbidden", "detail": "not your offer"}
        ),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        token = csrf_of(client, "/work")
        client.post("/offers/off-1/accept", data={"csrf_token": token})
        assert "could not be accepted: the offer is no longer open" in client.get("/work").text
        refused = client.post("/offers/off-2/accept", data={"csrf_token": token})
        assert refused.status_code == 403
        assert "You don&#39;t have permission to do that (not your offer)" in refused.text


def test_offers_that_cannot_be_loaded_leave_my_tickets_on_the_page() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example")
    agent_of(fake, ada)
    my_tickets(fake, [ticket("t-1", "Still here")])
    fake.route(
        "GET",
        "routing",
        "/v1/offers",
        lambda request: httpx.Response(
            403, json={"title": "Forbidden", "detail": "another agent's offers"}
        ),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get("/work")
        assert page.status_code == 200
        assert "Still here" in page.text
        assert "Offers could not be loaded" in page.text


def test_a_person_who_is_no_agent_is_told_so_and_intake_is_not_asked() -> None:
    fake = FakeServices()
    fake.person("lee@acme.example", role="lead")
    fake.route("GET", "routing", "/v1/agents", lambda request: [])
    with workspace(fake) as client:
        sign_in(client, "lee@acme.example")
        page = client.get("/work")
        assert page.status_code == 200
        assert "You are not registered as an agent" in page.text
        assert not [c for c in fake.calls if c.service == "intake"]


def test_a_background_htmx_fetch_leaves_the_flash_for_the_page_the_redirect_loads() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example")
    agent_of(fake, ada)
    my_tickets(fake, [])
    fake.route("GET", "routing", "/v1/offers", lambda request: [])
    fake.route("POST", "routing", "/v1/offers/off-1/accept", lambda request: {"id": "off-1"})
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        client.post("/offers/off-1/accept", data={"csrf_token": csrf_of(client, "/work")})
        refreshed = client.get("/work", headers={"hx-request": "true"})  # the live parts' fetch
        assert "Offer accepted" not in refreshed.text
        assert "Offer accepted" in client.get("/work").text
