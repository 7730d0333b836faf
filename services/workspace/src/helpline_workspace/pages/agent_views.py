"""What the agent's pages show, as plain functions over the APIs' JSON: SLA badges, the ticket
filters, the conversation. No HTTP here, so each rule is tested in milliseconds."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from helpline_workspace.web import parse_instant

AT_RISK = timedelta(hours=1)
"""A running clock due within this long is at risk (as intake's ``sla=at_risk``)."""
METRIC_NAMES = {
    "first_response": "First response",
    "next_response": "Next response",
    "periodic_update": "Periodic update",
    "resolution": "Resolution",
}
STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
OPEN_STATUSES = ("new", "open", "pending", "on_hold")
PRIORITIES = ("urgent", "high", "normal", "low")
SLA_FILTERS = ("breached", "at_risk")
SORTS = ("created", "sla")
MAX_QUERY = 200
MAX_TEAM = 64
TAG_SPLIT = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class Badge:
    """An SLA state as a person reads it: ``text`` says it all, ``css`` only adds colour."""

    css: str
    text: str


def metric_name(metric: str) -> str:
    """``first_response`` as "First response"."""
    return METRIC_NAMES.get(metric, metric.replace("_", " ").capitalize())


def duration(seconds: float) -> str:
    """A span as a person says it: "2 d 3 h", "4 h 05 min", "12 min"."""
    minutes = max(int(seconds // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def metric_badge(clock: Mapping[str, Any], now: datetime) -> Badge:
    """The badge of one SLA metric (``state`` running, paused, met or breached; ``deadline``)."""
    state = str(clock.get("state") or "")
    if state == "breached" or (clock.get("breached") is True and state != "met"):
        return Badge("breached", "Breached")
    if state == "paused":
        return Badge("paused", "Paused")
    if state == "met":
        return Badge("met", "Met")
    deadline = parse_instant(clock.get("deadline"))
    if state == "running" and deadline is not None:
        left = deadline - now
        if left <= timedelta(0):
            return Badge("breached", "Overdue")
        css = "at-risk" if left <= AT_RISK else "running"
        prefix = "At risk: " if css == "at-risk" else ""
        return Badge(css, f"{prefix}{duration(left.total_seconds())} left")
    return Badge("paused", state.capitalize() or "Unknown")


def ticket_badge(sla: Mapping[str, Mapping[str, Any]] | None, now: datetime) -> Badge:
    """One badge for a ticket: a breach first, then the running clock due soonest, then a
    pause, then met; "No SLA" without clocks. The text names the metric."""
    clocks = dict(sla or {})
    if not clocks:
        return Badge("none", "No SLA")
    badges = {metric: metric_badge(clock, now) for metric, clock in clocks.items()}
    for metric, badge in badges.items():
        if badge.css == "breached":
            return Badge("breached", f"{badge.text}: {metric_name(metric).lower()}")
    running = [
        (parse_instant(clocks[metric].get("deadline")), metric)
        for metric, badge in badges.items()
        if badge.css in ("running", "at-risk")
    ]
    dated = sorted((deadline, metric) for deadline, metric in running if deadline is not None)
    if dated:
        metric = dated[0][1]
        return Badge(badges[metric].css, f"{metric_name(metric)}: {badges[metric].text}")
    for metric, badge in badges.items():
        if badge.css == "paused":
            return Badge("paused", f"{metric_name(metric)}: paused")
    return Badge("met", "Met")


def next_deadline(ticket: Mapping[str, Any]) -> datetime | None:
    """The ticket's next deadline: intake's ``next_deadline`` or a clock still counting
    (running, or breached and not yet met: the most urgent of all)."""
    deadlines = [parse_instant(ticket.get("next_deadline"))] + [
        parse_instant(clock.get("deadline"))
        for clock in (ticket.get("sla") or {}).values()
        if clock.get("state") in ("running", "breached")
    ]
    dated = [deadline for deadline in deadlines if deadline is not None]
    return min(dated) if dated else None


def by_next_deadline(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tickets with the soonest deadline first; those without one last, oldest first."""

    def key(ticket: dict[str, Any]) -> tuple[int, str, str]:
        deadline = next_deadline(ticket)
        return (
            deadline is None,
            deadline.isoformat() if deadline else "",
            str(ticket.get("created_at", "")),
        )

    return sorted(tickets, key=key)


@dataclass(frozen=True)
class TicketFilters:
    """The Tickets page's filters, as the form sent them, cleaned (unknown values dropped)."""

    q: str = ""
    status: str = ""
    priority: str = ""
    team: str = ""
    unassigned: bool = False
    sla: str = ""
    sort: str = "created"

    @classmethod
    def of(cls, query: Mapping[str, str]) -> "TicketFilters":
        """The filters of a query string."""

        def pick(name: str, allowed: tuple[str, ...], default: str = "") -> str:
            value = query.get(name, "")
            return value if value in allowed else default

        return cls(
            q=" ".join(query.get("q", "").split())[:MAX_QUERY],
            status=pick("status", STATUSES),
            priority=pick("priority", PRIORITIES),
            team=query.get("team", "").strip()[:MAX_TEAM],
            unassigned=query.get("unassigned") in ("true", "on", "1"),
            sla=pick("sla", SLA_FILTERS),
            sort=pick("sort", SORTS, "created"),
        )

    def params(self) -> dict[str, str]:
        """The query of intake's ``GET /v1/tickets`` (and of this page's shareable URL)."""
        values = {
            "q": self.q,
            "status": self.status,
            "priority": self.priority,
            "team": self.team,
            "unassigned": "true" if self.unassigned else "",
            "sla": self.sla,
            "sort": self.sort if self.sort != "created" else "",
        }
        return {name: value for name, value in values.items() if value}

    def url(self, cursor: str | None = None) -> str:
        """This page's URL with these filters (and ``cursor``)."""
        params = self.params()
        if cursor:
            params["cursor"] = cursor
        return "/tickets" + (f"?{urlencode(params)}" if params else "")

    @property
    def active(self) -> bool:
        """Whether any filter narrows the list."""
        return any(name != "sort" for name in self.params())


def tags_of(text: str) -> list[str]:
    """Tags typed as "a, b c": lower case, in order, each once."""
    seen: dict[str, None] = {}
    for tag in TAG_SPLIT.split(text.strip().lower()):
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


@dataclass(frozen=True)
class Entry:
    """One message of the conversation as the ticket page shows it."""

    id: str
    author: str
    kind: str
    """``customer``, ``reply``, ``note`` (internal, never sent) or ``system``."""
    label: str
    body: str
    at: Any
    attachments: list[dict[str, Any]]


def conversation(
    ticket: Mapping[str, Any], messages: list[dict[str, Any]], people: Mapping[str, str]
) -> list[Entry]:
    """The customer's request and every message, oldest first, each labelled in words.

    ``people`` names user ids. An email ticket's first message is its description already;
    an API ticket's description is shown as the customer's first message.
    """
    requester = ticket.get("requester") or {}
    customer = str(requester.get("name") or requester.get("email") or "Customer")
    entries: list[Entry] = []
    first = messages[0] if messages else None
    if not (
        first
        and first.get("author_role") == "requester"
        and first.get("body") == ticket.get("description")
    ):
        entries.append(
            Entry(
                "request",
                customer,
                "customer",
                "Customer's message",
                str(ticket.get("description", "")),
                ticket.get("created_at"),
                [],
            )
        )
    for message in messages:
        role, public = message.get("author_role"), bool(message.get("public"))
        if role == "requester":
            author = customer
        elif role == "agent":
            author = people.get(str(message.get("author_id")), "Agent")
        else:
            author = "Helpline"
        if not public:
            kind, label = "note", "Internal note"
        elif role == "requester":
            kind, label = "customer", "Customer's message"
        elif role == "agent":
            kind, label = "reply", "Public reply"
        else:
            kind, label = "system", "Sent by Helpline"
        if message.get("auto_reply"):
            label += " (automatic reply)"
        entries.append(
            Entry(
                str(message.get("id")),
                author,
                kind,
                label,
                str(message.get("body", "")),
                message.get("created_at"),
                list(message.get("attachments") or []),
            )
        )
    return entries


def clock_history(clock: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A clock's history as ``{at, event, detail}`` rows (older rows say ``what``/``reason``)."""
    rows = []
    for item in clock.get("history") or []:
        if not isinstance(item, Mapping):
            continue
        detail = item.get("detail", item.get("reason", ""))
        rows.append(
            {
                "at": item.get("at"),
                "event": str(item.get("event") or item.get("what") or ""),
                "detail": detail if isinstance(detail, str) else _plain(detail),
            }
        )
    return rows


def _plain(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {item}" for key, item in value.items())
    return "" if value is None else str(value)


def named(text: str, names: Mapping[str, str]) -> str:
    """``text`` with every agent id it mentions replaced by the agent's name."""
    for agent_id, name in names.items():
        if agent_id and agent_id in text:
            text = text.replace(agent_id, name)
    return text
