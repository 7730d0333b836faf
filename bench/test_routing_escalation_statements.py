"""Statements per event of routing and escalation, as ``*_statements.py`` count them: bounds that
fail if a change brings back per-event reads or writes the batch already makes once.

Run: ``.venv/bin/python -m pytest bench/test_routing_escalation_statements.py`` (no broker).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import escalation_statements
import routing_statements


async def test_routing_decides_in_about_two_statements_and_applies_a_status_in_one(
    tmp_path: Path,
) -> None:
    figures = await routing_statements.count(100, 10, tmp_path / "routing.db")
    # Was 8.09 and 3.04: the ticket's SELECT and the guarded capacity UPDATE are all that is
    # left per decision; the ticket's SELECT per status change.
    assert figures["decision"] <= 2.2
    assert figures["status change"] <= 1.1


async def test_escalation_admits_a_ticket_in_about_two_statements(tmp_path: Path) -> None:
    figures = await escalation_statements.count(100, tmp_path / "escalation.db")
    # Was 3.54 per event of a whole life in one batch and 8.04 per ticket.created: the ticket's
    # INSERT and the breach timer's INSERT are all that is left per ticket.created; was 2.03
    # per later status change: its clocks locked and its row read in one SELECT now.
    assert figures["lifecycle event"] <= 0.7
    assert figures["created"] <= 2.2
    assert figures["status change"] <= 1.1
