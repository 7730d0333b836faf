"""Intake's reports: what a lead sees of the tenant's backlog, counted by the database."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import get_args

from helpline_intake.domain.model import OPEN_STATUSES
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.events import Priority, TicketStatus


def _priorities() -> dict[str, int]:
    return dict.fromkeys(get_args(Priority), 0)


@dataclass
class TeamBacklog:
    """The open tickets routing classified to one team (None: to no team)."""

    team: str | None
    open: int = 0
    by_priority: dict[str, int] = field(default_factory=_priorities)


@dataclass
class Backlog:
    """The tenant's backlog at ``generated_at``: open means neither solved nor closed."""

    generated_at: datetime
    open: int = 0
    unassigned: int = 0
    breached: int = 0
    at_risk: int = 0
    by_priority: dict[str, int] = field(default_factory=_priorities)
    by_status: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(get_args(TicketStatus), 0)
    )
    by_team: list[TeamBacklog] = field(default_factory=list)


async def backlog(uow: IntakeUnitOfWork, tenant_id: str, now: datetime) -> Backlog:
    """Count the tenant's backlog as of ``now`` from grouped rows, never loading tickets."""
    report = Backlog(generated_at=now)
    teams: dict[str | None, TeamBacklog] = {}
    async with uow.read_only():
        rows = await uow.tickets.backlog(tenant_id, now)
    for row in rows:
        report.by_status[row.status] = report.by_status.get(row.status, 0) + row.count
        if row.status not in OPEN_STATUSES:
            continue
        report.open += row.count
        report.unassigned += row.unassigned
        report.breached += row.breached
        report.at_risk += row.at_risk
        report.by_priority[row.priority] += row.count
        team = teams.setdefault(row.team, TeamBacklog(row.team))
        team.open += row.count
        team.by_priority[row.priority] += row.count
    # Named teams alphabetically, then the tickets of no team.
    report.by_team = sorted(teams.values(), key=lambda item: (item.team is None, item.team or ""))
    return report
