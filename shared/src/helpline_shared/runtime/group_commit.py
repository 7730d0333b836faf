"""Concurrent callers' writes in one transaction: one BEGIN and one COMMIT for a burst of them.

``GroupCommit.run(command)``: a caller finding nobody committing starts a task that applies its
command, and those of the callers ready to run with it. Commands arriving meanwhile wait; then
one task opens a unit of work, waits for its write turn (on SQLite, after the writes queued before
it) and applies every command waiting by then; and so on while commands wait. A batch is one
call of ``apply`` (so it can write their rows in one statement each), given each caller's
context for what must carry that caller's trace (the events it publishes), and one commit. A
caller gets its own result once that commit is done. If the shared transaction fails, it is
rolled back and each caller applies its command alone, in a transaction of its own (``alone``),
so one command's fault is its caller's only. A caller cancelled before its command was taken
leaves nothing behind; once taken, the command commits with the others (as a request cancelled
during its commit does), and no caller's cancellation fails the others (the batch commits in a
task of its own).
"""

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from helpline_shared.runtime.uow import SqlUnitOfWork

UnitOfWorkT = TypeVar("UnitOfWorkT", bound=SqlUnitOfWork)
CommandT = TypeVar("CommandT")
ResultT = TypeVar("ResultT")


Call = tuple[CommandT, contextvars.Context]
"""A command and the context of its caller."""


class _Alone(Exception):
    """The shared transaction failed: apply the command in a transaction of its own."""


class GroupCommit(Generic[UnitOfWorkT, CommandT, ResultT]):
    """Applies the commands of concurrent callers with ``apply`` in one transaction."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWorkT],
        apply: Callable[[UnitOfWorkT, Sequence[Call[CommandT]]], Awaitable[Sequence[ResultT]]],
        alone: Callable[[CommandT], Awaitable[ResultT]],
        max_batch: int = 100,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._apply = apply
        self._alone = alone
        self._max_batch = max_batch
        self._waiting: list[tuple[CommandT, contextvars.Context, asyncio.Future[ResultT]]] = []
        self._busy = False
        """Whether a drain task is committing a batch (one at a time)."""
        self._draining: asyncio.Task[None] | None = None

    async def run(self, command: CommandT) -> ResultT:
        """Apply ``command`` with whatever others wait for the same write turn; its result."""
        done: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._waiting.append((command, contextvars.copy_context(), done))
        if not self._busy:
            # Nobody commits: a task does, once the tasks ready to run have had their turn (the
            # requests that came in with it then wait here too: on SQLite in the loop's thread,
            # a transaction may run through without ever letting them in). A task, not this
            # caller: a caller cancelled during the commit must not fail the others' batch.
            self._busy = True
            self._draining = asyncio.create_task(self._drain(first=True), name="group-commit")
        try:
            return await done
        except _Alone:
            return await self._alone(command)

    def _hand_on(self) -> None:
        """Leave the commands that arrived after the last batch to a new drain task."""
        self._waiting = [entry for entry in self._waiting if not entry[2].done()]
        if self._waiting:
            self._draining = asyncio.create_task(self._drain(first=False), name="group-commit")
        else:
            self._busy = False

    async def _drain(self, *, first: bool) -> None:
        try:
            if first:
                await asyncio.sleep(0)
            # After the first batch, commands arriving until the write turn comes join.
            await self._commit_one_batch(first_the_turn=not first)
        except BaseException:
            # Cancelled (at shutdown): no caller may wait forever.
            waiting, self._waiting = self._waiting, []
            for _command, _context, done in waiting:
                if not done.done():
                    done.set_exception(RuntimeError("the shared transaction was cancelled"))
            self._busy = False
            raise
        self._hand_on()

    async def _commit_one_batch(self, *, first_the_turn: bool) -> None:
        taken: list[tuple[CommandT, contextvars.Context, asyncio.Future[ResultT]]] = []
        results: list[ResultT] = []
        try:
            async with self._unit_of_work() as uow:
                if first_the_turn:
                    await uow.session.connection()  # commands arriving until it comes join
                taken = [entry for entry in self._waiting[: self._max_batch] if not entry[2].done()]
                del self._waiting[: self._max_batch]
                if taken:
                    results = list(
                        await self._apply(
                            uow, [(command, context) for command, context, _ in taken]
                        )
                    )
                    await uow.commit()
        except Exception as error:  # noqa: BLE001 - handed to the callers, each tries alone
            if not taken:  # the unit of work could not even begin: each caller tries alone
                taken, self._waiting = self._waiting, []
            for _command, _context, done in taken:
                if not done.done():
                    done.set_exception(error if len(taken) == 1 else _Alone())
            return
        except BaseException:
            for _command, _context, done in taken:
                if not done.done():
                    done.set_exception(RuntimeError("the shared transaction was cancelled"))
            raise
        for (_command, _context, done), result in zip(taken, results, strict=True):
            if not done.done():
                done.set_result(result)
