"""The admin pages: users, API keys (shown once), webhooks, SLA policies, routing rules."""

import json
from typing import Any

import httpx
import pytest
from workspace_support import FakeServices, csrf_of, sign_in, workspace

KEY = {
    "id": "key_1",
    "name": "CRM sync",
    "prefix": "hl_ab12",
    "scopes": ["tickets:read"],
    "user_id": None,
    "created_at": "2026-11-30T10:00:00Z",
    "expires_at": None,
    "last_used_at": None,
    "revoked_at": None,
}
USER = {
    "user_id": "usr_9",
    "name": "Ann Agent",
    "email": "ann@acme.example",
    "role": "agent",
    "teams": ["billing"],
    "active": True,
}


def admin_client(fake: FakeServices) -> Any:
    """The workspace with an admin signed in (use as a context manager)."""
    fake.person("ada@acme.example", role="admin", name="Ada Admin")
    return workspace(fake)


def body_of(request: httpx.Request) -> Any:
    """The JSON a page sent."""
    return json.loads(request.read())


@pytest.mark.parametrize(
    "path",
    [
        "/admin",
        "/admin/users",
        "/admin/keys",
        "/admin/webhooks",
        "/admin/sla",
        "/admin/routing",
        "/dashboard",
    ],
)
def test_an_agent_gets_a_readable_403_page_and_no_service_is_asked(path: str) -> None:
    fake = FakeServices()
    fake.person("kim@acme.example", role="agent")
    fake.person("lee@acme.example", role="lead")
    with workspace(fake) as client:
        sign_in(client, "kim@acme.example")
        page = client.get(path)
        assert page.status_code == 403
        assert "can open this page" in page.text and "Traceback" not in page.text
        assert [call.service for call in fake.calls] == ["identity"] * len(fake.calls)
    if path != "/dashboard":
        with workspace(fake) as client:
            sign_in(client, "lee@acme.example")
            assert client.get(path).status_code == 403
            assert "Only admins can open this page." in client.get(path).text


def test_users_are_listed_changed_and_added_with_readable_refusals() -> None:
    fake = FakeServices()
    patched: list[Any] = []
    fake.route("GET", "identity", "/v1/users", lambda request: [USER])
    fake.route(
        "PATCH",
        "identity",
        "/v1/users/usr_9",
        lambda request: patched.append(body_of(request)) or {**USER, **body_of(request)},
    )
    fake.route(
        "POST",
        "identity",
        "/v1/users",
        lambda request: httpx.Response(
            422,
            json={
                "detail": [{"loc": ["body", "email"], "msg": "value is not a valid email address"}]
            },
        ),
    )
    with admin_client(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get("/admin/users")
        assert page.status_code == 200
        assert "Role of Ann Agent" in page.text and 'name="csrf_token"' in page.text
        answer = client.post(
            "/admin/users/usr_9",
            data={"role": "lead", "teams": "billing, vip", "csrf_token": csrf_of(client, "/admin")},
        )
        assert answer.status_code == 303
        assert patched == [{"role": "lead", "teams": ["billing", "vip"], "active": False}]
        assert "Ann Agent is now lead, deactivated." in client.get("/admin/users").text
        refused = client.post(
            "/admin/users",
            data={
                "name": "Zed",
                "email": "zed",
                "role": "agent",
                "teams": "",
                "csrf_token": csrf_of(client, "/admin"),
            },
        )
        assert refused.status_code == 422
        assert "The person was not added: email: value is not a valid email address" in (
            refused.text
        )
        assert 'value="Zed"' in refused.text


def test_a_new_api_key_is_shown_once_on_the_next_page_and_never_again() -> None:
    fake = FakeServices()
    made: list[Any] = []
    fake.route("GET", "identity", "/v1/api-keys", lambda request: [KEY])
    fake.route(
        "POST",
        "identity",
        "/v1/api-keys",
        lambda request: (
            made.append(body_of(request))
            or httpx.Response(
                201,
                json={
                    "id": "key_2",
                    "key": "hl_secret_value_123",
                    "prefix": "hl_secr",
                    "scopes": ["tickets:read", "reports:read"],
                    "expires_at": None,
                },
            )
        ),
    )
    with admin_client(fake) as client:
        sign_in(client, "ada@acme.example")
        form = client.get("/admin/keys")
        assert "hl_ab12" in form.text and "reports:read" in form.text
        answer = client.post(
            "/admin/keys",
            data={
                "name": "Reports",
                "scopes": ["tickets:read", "reports:read"],
                "csrf_token": csrf_of(client, "/admin"),
            },
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/keys/new"
        assert made == [{"name": "Reports", "scopes": ["tickets:read", "reports:read"]}]
        first = client.get("/admin/keys/new")
        assert 'value="hl_secret_value_123"' in first.text
        assert first.headers["cache-control"] == "no-store"
        again = client.get("/admin/keys/new")
        assert "hl_secret_value_123" not in again.text
        assert "shown once and cannot be shown again" in again.text
        assert "hl_secret_value_123" not in client.get("/admin/keys").text


def test_a_key_without_scopes_is_refused_before_identity_is_asked() -> None:
    fake = FakeServices()
    fake.route("GET", "identity", "/v1/api-keys", lambda request: [])
    with admin_client(fake) as client:
        sign_in(client, "ada@acme.example")
        answer = client.post(
            "/admin/keys", data={"name": "Nothing", "csrf_token": csrf_of(client, "/admin")}
        )
        assert answer.status_code == 422
        assert "Scopes: choose at least one scope." in answer.text
        assert not [
            call for call in fake.calls if call.method == "POST" and call.path == "/v1/api-keys"
        ]


def test_revoking_a_key_asks_first_then_deletes_it() -> None:
    fake = FakeServices()
    deleted: list[str] = []
    fake.route("GET", "identity", "/v1/api-keys", lambda request: [KEY])
    fake.route(
        "DELETE",
        "identity",
        "/v1/api-keys/key_1",
        lambda request: deleted.append(request.url.path) or httpx.Response(204),
    )
    with admin_client(fake) as client:
        sign_in(client, "ada@acme.example")
        confirm = client.get("/admin/keys/key_1/revoke")
        assert "Revoke the key “CRM sync”?" in confirm.text
        assert not deleted  # looking at the question changes nothing
        answer = client.post(
            "/admin/keys/key_1/revoke", data={"csrf_token": csrf_of(client, "/admin")}
        )
        assert answer.status_code == 303
        assert deleted == ["/v1/api-keys/key_1"]
        assert "is revoked" in client.get("/admin/keys").text
        assert client.get("/admin/keys/nope/revoke").status_code == 404


def test_revoking_without_the_csrf_token_is_refused() -> None:
    fake = FakeServices()
    fake.route("GET", "identity", "/v1/api-keys", lambda request: [KEY])
    with admin_client(fake) as client:
        sign_in(client, "ada@acme.example")
        assert client.post("/admin/keys/key_1/revoke").status_code == 403
        assert not [call for call in fake.calls if call.method == "DELETE"]


def delivery(number: int, destination: str) -> dict[str, Any]:
    """A ledger entry."""
    return {
        "id": f"dlv_{number}",
        "ticket_id": "t-1",
        "channel": "webhook",
        "destination": destination,
        "trigger_event_id": "e",
        "status": "failed",
        "trigger_event_type": "helpline.ticket.created.v1",
        "attempts": 3,
        "next_attempt_at": None,
        "last_error": "HTTP 500",
        "message_id": None,
        "created_at": f"2026-11-30T10:{number:02d}:00Z",
        "delivered_at": None,
    }


def test_an_endpoint_shows_its_recent_deliveries_newest_first_with_a_resend() -> None:
    fake = FakeServices()
    endpoint = {
        "id": "whe_1",
        "url": "https://crm.example/hook",
        "event_types": ["*"],
        "enabled": True,
        "ordered": False,
        "owner_email": None,
        "filters": {},
        "failing_since": None,
        "disabled_reason": None,
        "personal_data": True,
        "created_at": "2026-11-30T09:00:00Z",
    }
    pages = {
        None: {"items": [delivery(1, "whe_1"), delivery(2, "whe_other")], "next_cursor": "c2"},
        "c2": {"items": [delivery(3, "whe_1")], "next_cursor": None},
    }
    resent: list[str] = []
    fake.route("GET", "notify", "/v1/webhook-endpoints", lambda request: [endpoint])
    fake.route("GET", "notify", "/v1/webhook-endpoints/whe_1", lambda request: endpoint)
    fake.route(
        "GET", "notify", "/v1/deliveries", lambda request: pages[request.url.params.get("cursor")]
    )
    fake.route(
        "POST",
        "notify",
        r"/v1/deliveries/[^/]+/resend",
        lambda request: (
            resent.append(request.url.path) or httpx.Response(202, json=delivery(3, "whe_1"))
        ),
    )
    with admin_client(fake) as client:
        sign_in(client, "ada@acme.example")
        assert "https://crm.example/hook" in client.get("/admin/webhooks").text
        page = client.get("/admin/webhooks/whe_1").text
        assert page.index("dlv_3") < page.index("dlv_1") and "dlv_2" not in page
        answer = client.post(
            "/admin/webhooks/whe_1/deliveries/dlv_3/resend",
            data={"csrf_token": csrf_of(client, "/admin")},
        )
        assert answer.headers["location"] == "/admin/webhooks/whe_1"
        assert resent == ["/v1/deliveries/dlv_3/resend"]
        assert (
            "Delivery dlv_3 is queued to be sent again." in client.get("/admin/webhooks/whe_1").text
        )


def test_sla_policies_are_listed_and_a_new_version_is_put() -> None:
    fake = FakeServices()
    put: list[Any] = []
    fake.route(
        "GET",
        "escalation",
        "/v1/sla/policies",
        lambda request: [
            {"policy_id": "standard", "version": 2, "name": "Standard", "position": 100}
        ],
    )
    fake.route(
        "PUT",
        "escalation",
        "/v1/sla/policies/standard",
        lambda request: (
            put.append((request.url.params.get("recompute"), body_of(request)))
            or {
                "policy_id": "standard",
                "version": 3,
                "name": "Standard",
                "position": 100,
                "moved": [],
            }
        ),
    )
    with admin_client(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get("/admin/sla")
        assert "<code>standard</code>" in page.text and "Store a policy version" in page.text
        document = {
            "name": "Standard",
            "position": 100,
            "calendar": {"name": "x"},
            "metrics": {"first_response": {"targets": {"urgent": 60}}},
        }
        answer = client.post(
            "/admin/sla",
            data={
                "policy_id": "standard",
                "document": json.dumps(document),
                "recompute": "true",
                "csrf_token": csrf_of(client, "/admin"),
            },
        )
        assert answer.status_code == 303
        assert put == [("true", document)]
        assert (
            "Policy standard is now version 3; 0 deadlines moved." in client.get("/admin/sla").text
        )
        broken = client.post(
            "/admin/sla",
            data={
                "policy_id": "standard",
                "document": "{oops",
                "csrf_token": csrf_of(client, "/admin"),
            },
        )
        assert broken.status_code == 422
        assert "Policy: not valid JSON" in broken.text and "{oops" in broken.text


def test_routing_rules_are_edited_as_json_and_the_api_reason_is_shown() -> None:
    fake = FakeServices()
    rules = {
        "version": 4,
        "rules": [{"id": "vip", "conditions": {"tags": ["vip"]}, "outcome": {"team": "vip"}}],
        "default": {"tags_as_skills": True},
    }
    fake.route("GET", "routing", "/v1/routing/rules", lambda request: rules)
    answers = iter(
        [
            httpx.Response(
                422,
                json={
                    "detail": [{"loc": ["body", "rules", 0, "outcome"], "msg": "Field required"}]
                },
            ),
            {**rules, "version": 5},
        ]
    )
    sent: list[Any] = []
    fake.route(
        "PUT",
        "routing",
        "/v1/routing/rules",
        lambda request: sent.append(body_of(request)) or next(answers),
    )
    with admin_client(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get("/admin/routing").text
        assert "Version 4" in page and "&#34;vip&#34;" in page
        assert "&#34;version&#34;" not in page.split("<textarea")[1]  # the API refuses it
        refused = client.post(
            "/admin/routing",
            data={"document": '{"rules": [{"id": "x"}]}', "csrf_token": csrf_of(client, "/admin")},
        )
        assert refused.status_code == 422
        assert "The rules were not saved: rules.0.outcome: Field required" in refused.text
        saved = client.post(
            "/admin/routing",
            data={"document": json.dumps({"rules": []}), "csrf_token": csrf_of(client, "/admin")},
        )
        assert saved.status_code == 303
        assert sent[-1] == {"rules": []}
        assert "Routing rules saved as version 5." in client.get("/admin/routing").text
