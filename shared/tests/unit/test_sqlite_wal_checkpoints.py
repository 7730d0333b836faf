"""A service's SQLite WAL is checkpointed in a thread, not by a commit in the event loop's
thread: the engine's connections checkpoint only past ``WAL_AUTOCHECKPOINT_PAGES``, and
``WalCheckpoints`` copies what was written (nothing, without a thread, when nothing was)."""

from pathlib import Path

from sqlalchemy import text

from helpline_shared.runtime.db import WAL_AUTOCHECKPOINT_PAGES, WalCheckpoints, create_engine


async def test_the_wal_is_checkpointed_off_the_loop_only_when_written(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    checkpoints = WalCheckpoints.of(engine)
    assert checkpoints is not None
    try:
        async with engine.begin() as connection:
            pages = await connection.scalar(text("PRAGMA wal_autocheckpoint"))
            assert pages == WAL_AUTOCHECKPOINT_PAGES
            await connection.execute(text("CREATE TABLE t (v TEXT)"))
            await connection.execute(text("INSERT INTO t VALUES ('x')"))
        result = await checkpoints.checkpoint()
        assert result is not None
        frames, checkpointed = result
        assert frames > 0
        assert checkpointed == frames
        assert await checkpoints.checkpoint() is None  # nothing written since
    finally:
        checkpoints.close()
        await engine.dispose()


def test_no_checkpoints_without_a_wal_file() -> None:
    assert WalCheckpoints.of(create_engine("sqlite://")) is None
    assert WalCheckpoints.of(create_engine("postgresql+asyncpg://h/db")) is None
