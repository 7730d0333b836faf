"""The CLI's resource commands call the services' APIs as a careful client would."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from helpline_cli.app import app


class FakeService:
    """Answers every request with the next queued (status, body) and keeps the requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.answers: list[tuple[int, dict[str, object]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                fake.requests.append((self.command, self.path, dict(self.headers), body))
                status, answer = fake.answers.pop(0) if fake.answers else (200, {})
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # bound at once
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def routing() -> Iterator[FakeService]:
    service = FakeService()
    yield service
    service.server.shutdown()


def run(routing: FakeService, *arguments: str, token: str | None = "hl_x.y") -> tuple[int, str]:
    environment = {"HELPLINE_ROUTING_URL": routing.url}
    if token:
        environment["HELPLINE_TOKEN"] = token
    result = CliRunner().invoke(app, list(arguments), env=environment)
    return result.exit_code, result.output


def test_create_posts_the_object_with_the_token_and_an_idempotency_key(
    routing: FakeService,
) -> None:
    routing.answers.append((201, {"id": "a-1"}))
    code, output = run(routing, "agents", "create", "--data", '{"name": "Ada"}')
    assert code == 0 and json.loads(output) == {"id": "a-1"}
    [(method, path, headers, body)] = routing.requests
    assert (method, path, json.loads(body)) == ("POST", "/v1/agents", {"name": "Ada"})
    assert headers["Authorization"] == "Bearer hl_x.y"
    assert headers["Idempotency-Key"]


def test_a_refusal_is_one_line_with_the_problem_detail(routing: FakeService) -> None:
    routing.answers.append((422, {"title": "Invalid", "detail": "skills.exports: too high"}))
    code, output = run(routing, "rules", "set", "--data", "{}")
    assert code == 1
    assert output.strip() == (
        "error: routing refused PUT /v1/routing/rules: 422 skills.exports: too high"
    )


def test_without_a_token_the_cli_says_how_to_get_one(routing: FakeService) -> None:
    code, output = run(routing, "agents", "list", token=None)
    assert code == 1 and "set HELPLINE_TOKEN to an API key or access token" in output
    assert routing.requests == []


def test_tenant_commands_send_the_operator_key_not_the_token(routing: FakeService) -> None:
    routing.answers.append((200, [{"tenant_id": "acme", "state": "active"}]))
    result = CliRunner().invoke(
        app,
        ["tenants", "list"],
        env={
            "HELPLINE_IDENTITY_URL": routing.url,
            "HELPLINE_TOKEN": "hlk_tenant",
            "HELPLINE_OPERATOR_KEY": "operator-secret",
        },
    )
    assert result.exit_code == 0, result.output
    [(method, path, headers, _body)] = routing.requests
    assert (method, path) == ("GET", "/v1/tenants")
    assert headers["Authorization"] == "Bearer operator-secret"


def test_without_an_operator_key_tenant_commands_say_where_it_is(routing: FakeService) -> None:
    result = CliRunner().invoke(
        app,
        ["tenants", "list"],
        env={"HELPLINE_IDENTITY_URL": routing.url, "HELPLINE_TOKEN": "hlk_tenant"},
    )
    assert result.exit_code == 1
    assert (
        "set HELPLINE_OPERATOR_KEY (make run keeps it in .helpline/operator-key)" in result.output
    )
    assert routing.requests == []


def test_an_invalid_field_is_named_with_its_message(routing: FakeService) -> None:
    routing.answers.append(
        (
            422,
            {
                "title": "Invalid request",
                "detail": "invalid field(s): email",
                "errors": [{"field": "email", "message": "not an address"}],
            },
        )
    )
    result = CliRunner().invoke(
        app,
        ["users", "create", "nope", "--name", "Ann"],
        env={"HELPLINE_IDENTITY_URL": routing.url, "HELPLINE_TOKEN": "hlk_tenant"},
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: identity refused POST /v1/users: 422 invalid "
        "field(s): email (email: not an address)"
    )


def test_cancelling_a_delivery_posts_to_notify_and_shows_the_result(routing: FakeService) -> None:
    routing.answers.append(
        (200, {"id": "d-1", "status": "failed", "last_error": "cancelled by operator"})
    )
    result = CliRunner().invoke(
        app,
        ["deliveries", "cancel", "d-1"],
        env={"HELPLINE_NOTIFY_URL": routing.url, "HELPLINE_TOKEN": "hl_x.y"},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "failed"
    [(method, path, headers, _body)] = routing.requests
    assert (method, path) == ("POST", "/v1/deliveries/d-1/cancel")
    assert headers["Authorization"] == "Bearer hl_x.y"


def test_a_delivery_that_cannot_be_cancelled_is_one_line_with_the_reason(
    routing: FakeService,
) -> None:
    routing.answers.append((409, {"detail": "delivery: cannot be cancelled: it is delivered"}))
    result = CliRunner().invoke(
        app,
        ["deliveries", "cancel", "d-1"],
        env={"HELPLINE_NOTIFY_URL": routing.url, "HELPLINE_TOKEN": "hl_x.y"},
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: notify refused POST /v1/deliveries/d-1/cancel: 409 "
        "delivery: cannot be cancelled: it is delivered"
    )


def test_a_retried_post_sends_the_same_idempotency_key(routing: FakeService) -> None:
    routing.answers += [(503, {"detail": "busy"}), (201, {"id": "a-1"})]
    code, output = run(routing, "agents", "create", "--data", '{"name": "Ada"}')
    assert code == 0, output
    assert json.loads(output) == {"id": "a-1"}
    first, second = routing.requests
    assert first[3] == second[3]
    assert first[2]["Idempotency-Key"] == second[2]["Idempotency-Key"]


def test_each_operation_has_its_own_key_unless_one_is_given(routing: FakeService) -> None:
    run(routing, "agents", "create", "--data", "{}")
    run(routing, "agents", "create", "--data", "{}")
    run(routing, "agents", "heartbeat", "a-1", "--idempotency-key", "op-42")
    first, second, given = (headers["Idempotency-Key"] for _m, _p, headers, _b in routing.requests)
    assert first != second
    assert given == "op-42"


def test_a_refusal_is_not_retried(routing: FakeService) -> None:
    routing.answers.append((422, {"detail": "name: required"}))
    code, _output = run(routing, "agents", "create", "--data", "{}")
    assert code == 1 and len(routing.requests) == 1


def test_listings_print_a_table_or_the_json_answer(routing: FakeService) -> None:
    agents = [
        {"id": "a-1", "name": "Ada", "skills": {"billing": 3}},
        {"id": "a-2", "name": "Grace", "skills": {}},
    ]
    routing.answers += [(200, agents), (200, agents)]  # type: ignore[list-item]
    code, output = run(routing, "agents", "list")
    assert code == 0, output
    assert output.splitlines() == ["ID   NAME", "a-1  Ada", "a-2  Grace", "2 item(s)"]
    code, output = run(routing, "agents", "list", "-o", "json")
    assert code == 0 and json.loads(output) == agents


def test_a_page_of_deliveries_is_listed_with_its_next_cursor(routing: FakeService) -> None:
    page = {"items": [{"id": "d-1", "status": "failed"}], "next_cursor": "c2"}
    routing.answers.append((200, page))
    result = CliRunner().invoke(
        app,
        ["deliveries", "list"],
        env={"HELPLINE_NOTIFY_URL": routing.url, "HELPLINE_TOKEN": "hl_x.y"},
    )
    assert result.output.splitlines() == [
        "ID   STATUS",
        "d-1  failed",
        "1 item(s)",
        "more: next cursor c2",
    ]


def test_webhook_replay_posts_since(routing: FakeService) -> None:
    routing.answers.append((202, {"queued": 2}))
    result = CliRunner().invoke(
        app,
        ["webhooks", "replay", "w-1", "--since", "2026-05-01T08:00:00+02:00"],
        env={"HELPLINE_NOTIFY_URL": routing.url, "HELPLINE_TOKEN": "hl_x.y"},
    )
    assert result.exit_code == 0, result.output
    [(method, path, _headers, body)] = routing.requests
    assert (method, path) == ("POST", "/v1/webhook-endpoints/w-1/replay")
    assert json.loads(body) == {"since": "2026-05-01T06:00:00+00:00"}


def test_webhook_replay_refuses_a_time_without_offset(routing: FakeService) -> None:
    result = CliRunner().invoke(
        app,
        ["webhooks", "replay", "w-1", "--since", "2026-05-01T08:00:00"],
        env={"HELPLINE_NOTIFY_URL": routing.url, "HELPLINE_TOKEN": "hl_x.y"},
    )
    assert result.exit_code == 2 and "has no offset" in result.output
    assert routing.requests == []
