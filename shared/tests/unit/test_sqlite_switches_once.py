"""The in-loop driver switches to the loop's greenlet once per call from the loop, not once per
statement, and never for a commit."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from helpline_shared.runtime import sqlite_in_loop
from helpline_shared.runtime.db import create_engine


async def test_statements_of_one_call_and_its_commit_switch_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'switch.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (n INTEGER)"))
    switches = 0
    nothing = sqlite_in_loop._nothing

    async def counted() -> None:
        nonlocal switches
        switches += 1
        await nothing()

    monkeypatch.setattr(sqlite_in_loop, "_nothing", counted)

    def three_statements(sync_connection: Any) -> None:
        for n in range(3):
            sync_connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

    async with engine.begin() as connection:
        await connection.run_sync(three_statements)
    assert switches == 1  # was 4: one per statement and one for the commit

    async with engine.connect() as connection:
        # AsyncConnection.execute requires the driver to have awaited: still satisfied.
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3
    assert switches == 2
    await engine.dispose()
