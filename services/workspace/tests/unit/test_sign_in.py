"""Signing in and out, sessions, CSRF and readable errors, without a browser or a server."""

import httpx
from workspace_support import FakeServices, csrf_of, sign_in, workspace

from helpline_workspace.sessions import SESSION_COOKIE


def as_agent(fake: FakeServices, person: dict[str, object]) -> None:
    """Routing knows ``person`` as agent ``agt_ada`` (My work asks it first)."""
    fake.route(
        "GET",
        "routing",
        "/v1/agents",
        lambda request: [{"id": "agt_ada", "name": person["name"], "user_id": person["user_id"]}],
    )


def test_a_person_signs_in_with_a_fresh_session_id_and_lands_on_my_work() -> None:
    fake = FakeServices()
    fake.person("ada@acme.example", name="Ada")
    with workspace(fake) as client:
        csrf_of(client)
        anonymous = client.cookies[SESSION_COOKIE]
        answer = sign_in(client, "ada@acme.example")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/work"
        assert client.cookies[SESSION_COOKIE] != anonymous  # no session fixation
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie


def test_a_wrong_password_says_so_and_keeps_the_email() -> None:
    fake = FakeServices()
    fake.person("ada@acme.example")
    with workspace(fake) as client:
        answer = sign_in(client, "ada@acme.example", password="nope")
        assert answer.status_code == 401
        assert "Wrong tenant, email or password." in answer.text
        assert 'value="ada@acme.example"' in answer.text


def test_a_form_without_its_csrf_token_is_refused_with_a_readable_page() -> None:
    fake = FakeServices()
    fake.person("ada@acme.example")
    with workspace(fake) as client:
        csrf_of(client)
        answer = client.post(
            "/signin",
            data={
                "tenant": "acme",
                "email": "ada@acme.example",
                "password": "x",
                "csrf_token": "forged",
            },
        )
        assert answer.status_code == 403
        assert "did not come from this site" in answer.text
        assert "Traceback" not in answer.text


def test_pages_need_a_signed_in_person_and_remember_where_they_were_going() -> None:
    with workspace(FakeServices()) as client:
        answer = client.get("/work?status=open")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/signin?next=/work%3Fstatus%3Dopen"
        htmx = client.get("/work", headers={"hx-request": "true"})
        assert htmx.headers["hx-redirect"].startswith("/signin")


def test_sign_out_revokes_the_refresh_token_and_forgets_the_session() -> None:
    fake = FakeServices()
    fake.person("ada@acme.example")
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        token = csrf_of(client, "/signin")
        answer = client.post("/signout", data={"csrf_token": token})
        assert answer.status_code == 303
        assert [c.path for c in fake.calls if c.service == "identity"][-1] == "/v1/logout"
        assert client.get("/work").status_code == 303


def test_an_unknown_page_is_a_readable_404_with_security_headers() -> None:
    with workspace(FakeServices()) as client:
        answer = client.get("/no/such/page")
        assert answer.status_code == 404
        assert "There is no such page." in answer.text
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_open_redirects_are_refused_after_sign_in() -> None:
    fake = FakeServices()
    fake.person("ada@acme.example")
    with workspace(fake) as client:
        answer = client.post(
            "/signin",
            data={
                "tenant": "acme",
                "email": "ada@acme.example",
                "password": "correct horse battery staple",
                "next": "//evil.example/",
                "csrf_token": csrf_of(client),
            },
        )
        assert answer.headers["location"] == "/work"


def test_an_unreachable_service_is_a_readable_message() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    fake = FakeServices()
    ada = fake.person("ada@acme.example")
    as_agent(fake, ada)
    with workspace(fake) as client:
        assert sign_in(client, "ada@acme.example").status_code == 303
        fake.route("GET", "intake", "/v1/tickets", down)
        answer = client.get("/work")
        assert answer.status_code == 503
        assert "unreachable right now" in answer.text


def test_a_refused_call_shows_the_service_reason_not_a_stack_trace() -> None:
    fake = FakeServices()
    as_agent(fake, fake.person("ada@acme.example"))
    fake.route(
        "GET",
        "intake",
        "/v1/tickets",
        lambda request: httpx.Response(
            403, json={"title": "Forbidden", "detail": "this credential lacks permission"}
        ),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        answer = client.get("/work")
        assert answer.status_code == 403
        assert "You don&#39;t have permission to do that" in answer.text


def test_my_work_calls_intake_as_the_signed_in_person() -> None:
    fake = FakeServices()
    ada = fake.person("ada@acme.example")
    as_agent(fake, ada)
    fake.route("GET", "routing", "/v1/offers", lambda request: [])
    fake.route("GET", "intake", "/v1/tickets", lambda request: {"items": [], "next_cursor": None})
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        assert client.get("/work").status_code == 200
        call = fake.calls[-1]
        assert call.token.startswith("access-") and call.token.endswith("ada@acme.example")
        assert call.request.url.params["assignee"] == "agt_ada"  # intake knows agents' ids
