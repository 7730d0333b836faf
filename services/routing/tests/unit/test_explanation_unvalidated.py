"""A decision's candidates reach its event and history without a validation per candidate."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from routing_support import Factory, created, events_of, register
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_routing.adapters.orm import metadata
from helpline_routing.bootstrap import MIGRATIONS
from helpline_routing.service_layer import handlers
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.events import CandidateOutcome
from helpline_shared.runtime.testing import sqlite_units_of_work


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Factory, AsyncEngine]]:
    async with sqlite_units_of_work(
        tmp_path / "routing.db", MIGRATIONS, metadata, RoutingUnitOfWork
    ) as made:
        yield made


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
