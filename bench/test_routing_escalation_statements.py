"""Statements per event of routing and escalation, as ``*_statements.py`` count them: bounds that
fail if a change brings back per-event reads or writes the batch already makes once.

Run: ``.venv/bin/python -m pytest bench/test_routing_escalation_statements.py`` (no broker).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import escalation_statements
import routing_statements


async def test_routing_decides_in_about_one_statement_and_applies_a_status_in_one(
    tmp_path: Path,
) -> None:
    figures = await routing_statements.count(100, 10, tmp_path / "routing.db")
    # Was 8.09, then 2.12: the guarded capacity UPDATE is all that is left per decision (a new
    # ticket is not looked for first; the rules, settings and pool are checked in one SELECT);
    # the ticket's SELECT per status change (was 3.04, then 1.05); now 0.05: new -> open moves
    # no capacity, so its status is written unread, one UPDATE per batch. Then 1.12 -> 0.13 per
    # decision: the capacity is reserved behind, every unit of a batch in one statement.
    assert figures["decision"] <= 0.2
    assert figures["status change"] <= 0.1


async def test_escalation_admits_a_ticket_with_no_statement_of_its_own(tmp_path: Path) -> None:
    figures = await escalation_statements.count(100, tmp_path / "escalation.db")
    # Was 3.54, then 0.57 per event of a whole life in one batch, and 8.04, then 2.07 per
    # ticket.created: the ticket's row and its breach timer are written behind with its clock,
    # one INSERT of each kind per batch; was 2.03 per later status change: its clocks locked and
    # its row read in one SELECT, then 1.03; now 0.03: new -> open can move no clock (neither
    # status pauses or stops one under any policy version), so nothing of the ticket is read,
    # and a batch of such changes is acknowledged after one read (no write transaction).
    assert figures["lifecycle event"] <= 0.15
    assert figures["created"] <= 0.15
    assert figures["status change"] <= 0.1
