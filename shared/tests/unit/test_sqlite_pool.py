"""SQLite connections are kept open across transactions, however many run at once."""

import asyncio
from pathlib import Path

from sqlalchemy import event, text

from helpline_shared.runtime.db import create_engine


async def test_concurrent_transactions_reuse_their_connections(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda connection, _record: opened.append(1))

    async def read() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0)  # the others check out theirs meanwhile

    try:
        for _ in range(3):
            await asyncio.gather(*(read() for _ in range(12)))
    finally:
        await engine.dispose()

    # Twelve at once open twelve connections, once: the queue pool's default (five kept, the
    # rest closed at check-in) opened seven more in each later round.
    assert len(opened) == 12
