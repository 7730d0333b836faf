"""Tenants' templates rendered in worker processes that are killed when a render runs too long.

Why processes: a thread cannot be stopped, and no hook inside Jinja can interrupt one C-level
operation (a huge string repetition, a big-number power) or a loop nested in a loop that outputs
nothing. A process can be killed at the deadline, and its address space is capped, so one
template costs at most ``timeout`` seconds of one worker and never notify's event loop or memory.
The sandbox still bounds output size and refuses oversized repetitions before they start.

Helpline's built-in templates are our own code (no loops, output linear in the event's size):
they render in notify's process, in the same sandbox, compiled once. Only tenants' templates pay
for a worker's pipe, JSON and process switch.

Run as ``python -m helpline_notify.adapters.isolated_rendering MAX_OUTPUT MEMORY``, the module is
the worker: length-prefixed JSON requests on stdin, answers on stdout.
"""

import asyncio
import contextlib
import ctypes
import json
import resource
import signal
import sys
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, BinaryIO

from helpline_notify.adapters.rendering import DEFAULT_MAX_OUTPUT_BYTES, TemplateEngine
from helpline_notify.domain.errors import InvalidTemplate
from helpline_notify.domain.templates import BUILT_IN_TEMPLATES, EmailContent, TemplateSource

_HEADER_BYTES = 4
_READY = b"R"
_STARTUP_TIMEOUT = 60.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RenderLimits:
    """What one render may take: wall time, output bytes; and how many run at once."""

    timeout: float = 2.0
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    workers: int = 2
    memory_bytes: int = 128 * 2**20
    """Address space a worker may add to what it holds once started (a render needs little;
    two workers and notify stay within a 512 MiB container)."""


class RenderTimedOut(InvalidTemplate):
    """A render ran past the time limit; its worker process was killed."""


def _frame(value: dict[str, Any]) -> bytes:
    data = json.dumps(value).encode()
    return len(data).to_bytes(_HEADER_BYTES, "big") + data


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(cls, limits: RenderLimits) -> "_Worker":
        process = await asyncio.create_subprocess_exec(
            # The output is held a few times over (chunks, joined, JSON): room for that too.
            sys.executable,
            "-m",
            __name__,
            str(limits.max_output_bytes),
            str(max(limits.memory_bytes, 8 * limits.max_output_bytes)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(process)
        try:
            async with asyncio.timeout(_STARTUP_TIMEOUT):
                await worker._stdout.readexactly(len(_READY))
        except BaseException:
            await worker.kill()
            raise
        return worker

    @property
    def _stdout(self) -> asyncio.StreamReader:
        assert self._process.stdout is not None
        return self._process.stdout

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request and read its answer."""
        assert self._process.stdin is not None
        self._process.stdin.write(_frame(request))
        await self._process.stdin.drain()
        size = int.from_bytes(await self._stdout.readexactly(_HEADER_BYTES), "big")
        answer: dict[str, Any] = json.loads(await self._stdout.readexactly(size))
        return answer

    async def kill(self) -> None:
        """End the process at once and reap it."""
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        await self._process.wait()


class IsolatedRenderer:
    """Renders tenants' templates in a small pool of worker processes, each render bounded in
    time and size; Helpline's own (``trusted``) templates in this process, bounded in size."""

    def __init__(
        self,
        limits: RenderLimits | None = None,
        *,
        trusted: Collection[TemplateSource] = BUILT_IN_TEMPLATES,
    ) -> None:
        self.limits = limits or RenderLimits()
        self._trusted = frozenset(trusted)
        self._in_process = TemplateEngine(self.limits.max_output_bytes)
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        for _slot in range(self.limits.workers):
            self._idle.put_nowait(None)  # started on first use

    async def check(self, source: TemplateSource, sample: dict[str, Any]) -> None:
        """Compile ``source`` and render it once with ``sample`` under the same limits."""
        await self._ask({"check": True, "source": _parts(source), "context": sample})

    async def render(self, source: TemplateSource, context: dict[str, Any]) -> EmailContent:
        """The rendered email, or ``InvalidTemplate`` (failed, too large, too slow)."""
        if source in self._trusted:
            return self._in_process.render(source, context)
        answer = await self._ask({"check": False, "source": _parts(source), "context": context})
        return EmailContent(subject=answer["subject"], text=answer["text"], html=answer["html"])

    async def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        worker = await self._idle.get()
        try:
            if worker is None:
                worker = await _Worker.start(self.limits)
            try:
                async with asyncio.timeout(self.limits.timeout):
                    answer = await worker.ask(request)
            except TimeoutError as error:
                await worker.kill()
                worker = None
                raise RenderTimedOut(
                    f"rendering took longer than {self.limits.timeout:g} s"
                ) from error
            except (OSError, asyncio.IncompleteReadError) as error:
                await worker.kill()
                worker = None
                raise InvalidTemplate("rendering failed: the render process ended") from error
            except BaseException:  # cancelled mid-render: its answer would confuse the next
                await worker.kill()
                worker = None
                raise
            if answer.get("retire"):
                await worker.kill()
                worker = None
        finally:
            self._idle.put_nowait(worker)
        if "error" in answer:
            raise InvalidTemplate(answer["error"])
        return answer

    async def aclose(self) -> None:
        """Stop the idle worker processes (renders under way end with their callers)."""
        while not self._idle.empty():
            worker = self._idle.get_nowait()
            if worker is not None:
                await worker.kill()


def _parts(source: TemplateSource) -> list[str | None]:
    return [source.subject, source.text, source.html]


def _answer(engine: TemplateEngine, request: dict[str, Any]) -> dict[str, Any]:
    source = TemplateSource(*request["source"])
    try:
        if request["check"]:
            engine.check(source)
        content = engine.render(source, request["context"])
    except InvalidTemplate as error:
        # After running out of memory the heap may be fragmented: a fresh worker takes over.
        return {"error": str(error), "retire": isinstance(error.__cause__, MemoryError)}
    return {"subject": content.subject, "text": content.text, "html": content.html}


def _die_with_parent() -> None:
    # Linux: if notify dies mid-render, the kernel kills this worker instead of orphaning it.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _limit_memory(extra_bytes: int) -> None:
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/statm") as statm:
            held = int(statm.read().split()[0]) * resource.getpagesize()
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = held + extra_bytes
        resource.setrlimit(
            resource.RLIMIT_AS,
            (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard),
        )


def _serve(requests: BinaryIO, answers: BinaryIO, max_output_bytes: int, memory_bytes: int) -> None:
    engine = TemplateEngine(max_output_bytes)
    _limit_memory(memory_bytes)
    answers.write(_READY)
    answers.flush()
    while len(header := requests.read(_HEADER_BYTES)) == _HEADER_BYTES:
        answer = _answer(engine, json.loads(requests.read(int.from_bytes(header, "big"))))
        answers.write(_frame(answer))
        answers.flush()
        if answer.get("retire"):
            return


def main() -> None:
    """Serve render requests until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops notify, which stops us
    _die_with_parent()
    answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed may corrupt the answers
    _serve(sys.stdin.buffer, answers, int(sys.argv[1]), int(sys.argv[2]))


if __name__ == "__main__":
    main()
