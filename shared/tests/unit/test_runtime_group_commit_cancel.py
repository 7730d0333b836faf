"""A caller of ``GroupCommit`` cancelled while the batch holding its command commits does not
fail the other callers of that batch: they get their results, and the batch commits once."""

import asyncio
import contextvars
from collections.abc import Sequence
from types import TracebackType
from typing import Any, cast

from helpline_shared.runtime.group_commit import GroupCommit
from helpline_shared.runtime.uow import SqlUnitOfWork


class GatedUnitOfWork:
    """A unit of work whose commit waits for ``release``; it counts its commits."""

    commits = 0

    def __init__(self, release: asyncio.Event, committing: asyncio.Event) -> None:
        self._release = release
        self._committing = committing

    async def __aenter__(self) -> "GatedUnitOfWork":
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        self._committing.set()
        await self._release.wait()
        GatedUnitOfWork.commits += 1


async def test_a_caller_cancelled_during_the_commit_does_not_fail_the_others() -> None:
    release, committing = asyncio.Event(), asyncio.Event()
    GatedUnitOfWork.commits = 0

    async def apply(_uow: Any, commands: Sequence[tuple[str, contextvars.Context]]) -> list[str]:
        return [command.upper() for command, _context in commands]

    async def alone(command: str) -> str:
        raise AssertionError(f"{command} was not to be applied alone")

    group: GroupCommit[Any, str, str] = GroupCommit(
        lambda: cast(SqlUnitOfWork, GatedUnitOfWork(release, committing)), apply, alone
    )
    first = asyncio.create_task(group.run("a"))
    others = [asyncio.create_task(group.run(command)) for command in ("b", "c")]
    await committing.wait()  # the batch of all three is committing
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*others) == ["B", "C"]
    assert first.cancelled()
    assert GatedUnitOfWork.commits == 1
