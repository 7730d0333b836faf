"""Presence, heartbeats, typing and viewers through the workspace's routes (FakeServices)."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi.testclient import TestClient
from workspace_support import FakeServices, csrf_of, sign_in, workspace


def agent_routes(
    fake: FakeServices, user_id: str, agent_id: str = "agent-ana", presence: str = "available"
) -> dict[str, Any]:
    agent = {"id": agent_id, "name": "Ana Agent", "presence": presence, "user_id": user_id}

    def find(request: httpx.Request) -> Any:
        return [agent] if request.url.params.get("user_id") == user_id else []

    def set_presence(request: httpx.Request) -> Any:
        agent["presence"] = json.loads(request.read())["status"]
        return agent

    fake.route("GET", "routing", "/v1/agents", find)
    fake.route("PUT", "routing", f"/v1/agents/{agent_id}/presence", set_presence)
    fake.route("POST", "routing", f"/v1/agents/{agent_id}/heartbeat", lambda _request: agent)
    return agent


@contextmanager
def signed_in(fake: FakeServices, email: str) -> Iterator[tuple[TestClient, str]]:
    with workspace(fake, live_updates=False) as client:
        sign_in(client, email)
        yield client, csrf_of(client)


def test_the_presence_control_shows_the_agents_presence_asked_with_the_persons_token() -> None:
    fake = FakeServices()
    ana = fake.person("ana@acme.example", name="Ana Agent")
    agent_routes(fake, ana["user_id"], presence="away")
    with signed_in(fake, "ana@acme.example") as (client, _csrf):
        answer = client.get("/live/presence")
        assert answer.status_code == 200
        assert '<label for="presence-select"' in answer.text
        assert '<option value="away" selected>' in answer.text
        [call] = [c for c in fake.calls if c.path == "/v1/agents"]
        assert call.token.endswith("ana@acme.example")
        assert call.request.url.params["user_id"] == ana["user_id"]


def test_a_person_without_an_agent_sees_no_presence_control() -> None:
    fake = FakeServices()
    fake.person("lea@acme.example", role="lead")
    agent_routes(fake, "someone-else")
    with signed_in(fake, "lea@acme.example") as (client, csrf):
        assert "select" not in client.get("/live/presence").text
        refused = client.post(
            "/live/presence",
            data={"presence": "away", "csrf_token": csrf},
            headers={"hx-request": "true"},
        )
        assert "not an agent" in refused.text
        assert client.post("/live/heartbeat", headers={"x-csrf-token": csrf}).status_code == 204
        assert not [c for c in fake.calls if c.method in ("PUT", "POST") and c.service == "routing"]


def test_setting_presence_calls_routing_as_the_person_and_says_why_when_idle() -> None:
    fake = FakeServices()
    ana = fake.person("ana@acme.example", name="Ana Agent")
    agent = agent_routes(fake, ana["user_id"])
    with signed_in(fake, "ana@acme.example") as (client, csrf):
        answer = client.post(
            "/live/presence",
            data={"presence": "away", "idle": "true"},
            headers={"hx-request": "true", "x-csrf-token": csrf},
        )
        assert answer.status_code == 200
        assert agent["presence"] == "away"
        [put] = [c for c in fake.calls if c.method == "PUT"]
        assert put.path == "/v1/agents/agent-ana/presence"
        assert put.token.endswith("ana@acme.example")
        assert json.loads(put.request.read()) == {"status": "away"}
        assert "after 10 minutes without activity" in answer.text
        assert "after 10 minutes" in client.get("/live/presence").text
        client.post(
            "/live/presence",
            data={"presence": "available"},
            headers={"hx-request": "true", "x-csrf-token": csrf},
        )
        assert "without activity" not in client.get("/live/presence").text


def test_a_bad_presence_is_refused_naming_the_field_and_nothing_is_sent() -> None:
    fake = FakeServices()
    ana = fake.person("ana@acme.example")
    agent_routes(fake, ana["user_id"])
    with signed_in(fake, "ana@acme.example") as (client, csrf):
        answer = client.post(
            "/live/presence", data={"presence": "asleep"}, headers={"x-csrf-token": csrf}
        )
        assert answer.status_code == 422
        assert "presence" in answer.text
        assert not [c for c in fake.calls if c.method == "PUT"]
        forged = client.post(
            "/live/presence", data={"presence": "away"}, headers={"x-csrf-token": "forged"}
        )
        assert forged.status_code == 403


def test_the_heartbeat_reaches_routing_with_the_persons_token() -> None:
    fake = FakeServices()
    ana = fake.person("ana@acme.example")
    agent_routes(fake, ana["user_id"])
    with signed_in(fake, "ana@acme.example") as (client, csrf):
        assert client.post("/live/heartbeat", headers={"x-csrf-token": csrf}).status_code == 204
        [beat] = [c for c in fake.calls if c.path.endswith("/heartbeat")]
        assert beat.path == "/v1/agents/agent-ana/heartbeat"
        assert beat.token.endswith("ana@acme.example")


def test_a_typing_ping_shows_the_person_replying_to_others_only() -> None:
    fake = FakeServices()
    fake.person("ana@acme.example", name="Ana Agent")
    fake.person("bob@acme.example", name="Bob Agent")
    with signed_in(fake, "ana@acme.example") as (client, csrf):
        assert (
            client.post("/live/tickets/t-1/typing", headers={"x-csrf-token": csrf}).status_code
            == 204
        )
        assert "Ana Agent" not in client.get("/live/tickets/t-1/viewers").text
        bob = TestClient(client.app, follow_redirects=False)
        sign_in(bob, "bob@acme.example")
        assert "Ana Agent is replying" in bob.get("/live/tickets/t-1/viewers").text
        assert bob.get("/live/tickets/bad%20id/viewers").status_code == 422
