"""Fake answers of intake, routing and escalation for the agent pages' tests."""

import json
from datetime import timedelta
from typing import Any

import httpx
from workspace_support import NOW, FakeServices

AGENT_ID = "agt_ada"


def at(**delta: float) -> str:
    """An instant ``delta`` from now, as the APIs send it."""
    return (NOW + timedelta(**delta)).isoformat()


def ticket(ticket_id: str, subject: str = "Export fails", **fields: Any) -> dict[str, Any]:
    """A ticket as intake shows it."""
    return {
        "id": ticket_id,
        "subject": subject,
        "description": "It stops halfway.",
        "requester": {"email": "cy@customer.example", "name": "Cy Customer"},
        "priority": "normal",
        "type": "question",
        "tags": ["exports"],
        "channel": "api",
        "status": "open",
        "assignee": AGENT_ID,
        "sla": {},
        "organization_id": None,
        "mailbox": None,
        "merged_into_id": None,
        "created_at": at(hours=-2),
        "updated_at": at(hours=-1),
        **fields,
    }


def running(hours: float) -> dict[str, Any]:
    """A running SLA clock due ``hours`` from now (in a ticket's ``sla``)."""
    return {"state": "running", "deadline": at(hours=hours), "clock_version": 1}


def agent_of(fake: FakeServices, person: dict[str, Any], agent_id: str = AGENT_ID) -> None:
    """Routing knows ``person`` as the agent ``agent_id``."""
    agent = {"id": agent_id, "name": person["name"], "user_id": person["user_id"]}

    def agents(request: httpx.Request) -> list[dict[str, Any]]:
        wanted = request.url.params.get("user_id")
        return [agent] if wanted in (None, person["user_id"]) else []

    fake.route("GET", "routing", "/v1/agents", agents)


def json_body(request: httpx.Request) -> Any:
    """The JSON a page sent."""
    return json.loads(request.read())
