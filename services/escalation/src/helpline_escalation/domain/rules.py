"""Which ticket events start, pause, resume, restart or stop which metric (the defaults).

* first response: starts with the ticket; stops at the first public agent reply.
* next response: a cycle starts at the oldest unanswered public customer message (once the first
  response is given) and stops at the next public agent reply.
* periodic update: starts at the first public agent reply; each later one starts a new cycle.
* resolution: starts with the ticket, and a new cycle when a solved or closed ticket reopens.

Every metric pauses in its policy's pause statuses and stops in its stop statuses; a public
customer reply resumes every paused clock. Auto-replies and internal notes change nothing.
"""

from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Literal

from helpline_escalation.domain.model import ClockState, is_customer_reply, is_first_response
from helpline_escalation.domain.policy import SlaPolicy
from helpline_shared.events import (
    Event,
    MessageAdded,
    SlaMetric,
    TicketCreated,
    TicketStatusChanged,
)

Action = Literal["start", "restart", "pause", "resume", "stop"]


@dataclass(frozen=True)
class Change:
    """One thing to do to one metric's clock, and why."""

    metric: SlaMetric
    action: Action
    reason: str


def changes_for(
    event: Event, policy: SlaPolicy, states: Mapping[SlaMetric, ClockState]
) -> list[Change]:
    """What ``event`` does to the ticket's clocks, given their ``states`` (metric -> state)."""
    if isinstance(event, TicketCreated):
        return [
            Change(metric, "start", "ticket created")
            for metric in ("first_response", "resolution")
            if policy.metric(metric)
        ]
    if isinstance(event, MessageAdded):
        return _message_changes(event, policy, states)
    if isinstance(event, TicketStatusChanged):
        return _status_changes(event, policy, states)
    return []


def moves_no_clock(event: TicketStatusChanged, moving_statuses: Set[str]) -> bool:
    """True when ``event`` changes no clock of a ticket whose policy pauses and stops only in
    ``moving_statuses`` (or fewer), whatever its clocks' states.

    Only a status change resumes or starts a clock when neither status is a pause or stop
    status, and then only a paused one: a clock pauses only when the ticket enters a pause
    status (or, for periodic updates, while another clock is paused), and resumes at the next
    status change out of it. Statuses of one ticket arrive in order, so a previous status that
    pauses nothing means no clock is paused.
    """
    return event.status not in moving_statuses and event.previous_status not in moving_statuses


def _message_changes(
    event: MessageAdded, policy: SlaPolicy, states: Mapping[SlaMetric, ClockState]
) -> list[Change]:
    changes: list[Change] = []
    if is_first_response(event):
        stopping: tuple[tuple[SlaMetric, str], ...] = (
            ("first_response", "first public agent reply"),
            ("next_response", "public agent reply"),
        )
        for metric, reason in stopping:
            if states.get(metric) in ("running", "paused"):
                changes.append(Change(metric, "stop", reason))
        if policy.metric("periodic_update"):
            action: Action = "restart" if "periodic_update" in states else "start"
            changes.append(Change("periodic_update", action, "public agent reply"))
            # Only a pause status pauses a clock, and the customer's reply or the next status
            # resumes them all: a paused clock means the ticket still waits in a pause status.
            if "paused" in states.values():
                changes.append(Change("periodic_update", "pause", "ticket waiting"))
    elif is_customer_reply(event):
        changes.extend(
            Change(metric, "resume", "the customer replied")
            for metric, state in states.items()
            if state == "paused"
        )
        answered = states.get("first_response") in (None, "stopped")
        next_open = states.get("next_response") in ("running", "paused")
        if policy.metric("next_response") and answered and not next_open:
            action = "restart" if "next_response" in states else "start"
            changes.append(Change("next_response", action, "unanswered customer message"))
    return changes


def _status_changes(
    event: TicketStatusChanged, policy: SlaPolicy, states: Mapping[SlaMetric, ClockState]
) -> list[Change]:
    changes: list[Change] = []
    for metric, rules in policy.metrics.items():
        state = states.get(metric)
        was_stopped_status = event.previous_status in rules.stop_statuses
        if event.status in rules.stop_statuses:
            if state in ("running", "paused"):
                changes.append(Change(metric, "stop", f"ticket {event.status}"))
        elif was_stopped_status and metric == "resolution":
            changes.append(Change(metric, "restart" if state else "start", "ticket reopened"))
            if event.status in rules.pause_statuses:
                changes.append(Change(metric, "pause", f"ticket {event.status}"))
        elif event.status in rules.pause_statuses:
            if state == "running":
                changes.append(Change(metric, "pause", f"ticket {event.status}"))
        elif state == "paused":
            changes.append(Change(metric, "resume", f"ticket {event.status}"))
    return changes
