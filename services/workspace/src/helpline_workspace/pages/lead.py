"""The lead pages: the team dashboard (backlog, SLA attainment, agents) and reassigning a ticket.

Every figure comes from a report endpoint of the service that owns the data; the page only
formats it. Each figure carries ``data-figure`` (a stable name) and ``data-value`` (the raw
value as JSON) so tests compare the page with the endpoints.
"""

import asyncio
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from helpline_workspace.apis import ApiError, Apis
from helpline_workspace.web import TEMPLATES, Lead, render, session_of

router = APIRouter()
PRIORITIES = ("urgent", "high", "normal", "low")
METRICS = (("first_response", "First response"), ("resolution", "Resolution"))
WINDOWS = (7, 30)
PRESENCES = ("available", "away", "offline")
NOTHING = "—"
TICKET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def human_duration(seconds: Any) -> str:
    """``4500`` → ``"1 h 15 min"``; days and hours, hours and minutes, or seconds; "—" for null."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return NOTHING
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes = (whole + 30) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes and not days else "",
    ]
    return " ".join(part for part in parts if part) or "0 min"


def percent(ratio: Any) -> str:
    """``0.9125`` → ``"91.3 %"`` (one decimal); "—" for null."""
    if not isinstance(ratio, int | float) or isinstance(ratio, bool):
        return NOTHING
    shown = (Decimal(repr(ratio)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown} %"


def count(value: Any) -> str:
    """A count, or a per-channel mapping (``{"email": 2}`` → ``"email 2"``); "—" for null."""
    if isinstance(value, dict):
        return ", ".join(f"{key} {value[key]}" for key in sorted(value)) or "0"
    if value is None:
        return NOTHING
    return str(value)


def raw(value: Any) -> str:
    """The raw value as JSON, for ``data-value``."""
    return json.dumps(value, sort_keys=True)


TEMPLATES.env.filters.update(human_duration=human_duration, percent=percent, count=count, raw=raw)


async def _report(
    apis: Apis, service: str, path: str, **params: Any
) -> tuple[dict[str, Any], str | None]:
    """A report, or an empty one and why it is missing: one report down leaves the others."""
    try:
        report: dict[str, Any] = await apis.get(service, path, **params)
    except ApiError as error:
        return {}, error.message
    except httpx.HTTPError:
        return {}, f"The {service} service is unreachable right now."
    return report, None


async def _dashboard(
    request: Request, apis: Apis, status_code: int = 200, **context: Any
) -> Response:
    (backlog, backlog_error), *sla, (agents, agents_error) = await asyncio.gather(
        _report(apis, "intake", "/v1/reports/backlog"),
        *(_report(apis, "escalation", "/v1/reports/sla", days=days) for days in WINDOWS),
        _report(apis, "routing", "/v1/reports/agents"),
    )
    people = sorted(
        agents.get("agents", []),
        key=lambda agent: (str(agent.get("name") or ""), str(agent["agent_id"])),
    )
    return render(
        request,
        "dashboard.html",
        status_code=status_code,
        active="dashboard",
        backlog=backlog,
        backlog_error=backlog_error,
        sla=dict(zip(WINDOWS, (report for report, _ in sla), strict=True)),
        sla_errors=dict(zip(WINDOWS, (error for _, error in sla), strict=True)),
        agents=people,
        agents_error=agents_error,
        by_presence=agents.get("by_presence", {}),
        priorities=PRIORITIES,
        metrics=METRICS,
        windows=WINDOWS,
        presences=PRESENCES,
        **{"ticket_id": "", "agent_id": "", "assign_error": None, **context},
    )


@router.get("/dashboard")
async def dashboard(request: Request, apis: Lead) -> Response:
    """Backlog by priority and team, SLA attainment (7 and 30 days), agents' presence and load."""
    return await _dashboard(request, apis)


@router.post("/dashboard/assign")
async def reassign(
    request: Request,
    apis: Lead,
    ticket_id: str = Form(""),
    agent_id: str = Form(""),
    exceed_capacity: str = Form(""),
) -> Response:
    """Assign a ticket to an agent (routing); the outcome is said on the dashboard."""
    ticket_id, agent_id = ticket_id.strip(), agent_id.strip()
    problem, status = None, 422
    if not TICKET_ID.match(ticket_id):
        problem = "Ticket id: enter the id of a ticket (letters, digits, - and _)."
    elif not agent_id or len(agent_id) > 64:
        problem = "Agent: choose the agent to assign the ticket to."
    if problem is None:
        try:
            routed = await apis.put(
                "routing",
                f"/v1/tickets/{quote(ticket_id, safe='')}/assignment",
                {"agent_id": agent_id, "exceed_capacity": bool(exceed_capacity)},
            )
        except ApiError as error:
            problem = f"The ticket was not reassigned: {error.message}"
            status = error.status if error.status in (400, 403, 404, 409, 422) else 502
        else:
            name = await _agent_name(apis, str((routed or {}).get("agent_id") or agent_id))
            session_of(request).flash.append(f"Ticket {ticket_id} is now assigned to {name}.")
            return RedirectResponse("/dashboard", status_code=303)
    return await _dashboard(
        request,
        apis,
        status_code=status,
        ticket_id=ticket_id,
        agent_id=agent_id,
        assign_error=problem,
    )


async def _agent_name(apis: Apis, agent_id: str) -> str:
    """The agent's name from the agents report (the id when it is not there)."""
    report, _ = await _report(apis, "routing", "/v1/reports/agents")
    return next(
        (
            str(agent["name"])
            for agent in report.get("agents", [])
            if agent.get("agent_id") == agent_id
        ),
        agent_id,
    )
