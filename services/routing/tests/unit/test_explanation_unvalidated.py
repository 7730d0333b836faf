"""A decision's candidates reach its event and history without a validation per candidate."""

from typing import Any

import pytest
from routing_support import Factory, created, events_of, register
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_routing.service_layer import handlers
from helpline_shared.events import CandidateOutcome


async def test_candidates_are_built_unvalidated_and_read_back_whole(
    database: tuple[Factory, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    uow, engine = database
    for name in ("Ada", "Bob", "Cy"):
        await register(uow, name=name, capacity=5)

    def validated(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a candidate was validated")

    monkeypatch.setattr(CandidateOutcome, "__init__", validated)
    await handlers.on_ticket_event(created("t-1"), uow())
    monkeypatch.undo()
    (assigned,) = await events_of(engine, "assigned")
    candidates = assigned.explanation.candidates
    assert len(candidates) == 3
    assert sorted(c.outcome.split(":")[0] for c in candidates) == ["lost", "lost", "won"]
