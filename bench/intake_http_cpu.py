"""CPU time intake spends per ``POST /v1/tickets``, in process, on SQLite, without a client.

The app is called as uvicorn calls it (an ASGI scope, a ``receive`` handing the body, a ``send``
collecting the answer), so what is timed is intake alone: the edge, FastAPI, the credential
check, validation, the transaction and the response, not an HTTP client. The credential is an
API key of a stand-in identity (introspected once, then cached), as in the pipeline benchmark;
the relay is off (no broker). The CPU counted is the event loop's thread's (``thread_time``):
not the stand-in identity's, which runs on threads of this process. The key's introspection
and the revocation list are refetched every ``key_ttl`` and ``revocations_ttl`` (2 s, 1 s): per
second, not per request, they are left out of the timed requests by lengthening both.
``--profile FILE`` writes a cProfile of the timed requests.

Run: ``.venv/bin/python bench/intake_http_cpu.py [--tickets 2000] [--concurrency 8]``
"""

import argparse
import asyncio
import cProfile
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import stand_in_identity


class Caller:
    """Calls an ASGI app the way uvicorn does, one request at a time per task."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def post(self, path: str, document: dict[str, Any]) -> tuple[int, bytes]:
        """POST ``document`` as JSON to ``path``; the status and body answered."""
        body = json.dumps(document).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1:8080"),
                (b"authorization", b"Bearer " + self.key),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # as uvicorn: nothing more until the client leaves
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def ticket(n: int) -> dict[str, Any]:
    """The pipeline's ticket: a new requester each time."""
    return {
        "subject": "Export fails",
        "description": "bench",
        "tags": ["bench"],
        "requester": {"email": f"customer{n}@bench.example"},
        "priority": "normal",
    }


async def run(tickets: int, concurrency: int, profile: Path | None) -> None:
    identity = stand_in_identity()
    with tempfile.TemporaryDirectory() as directory:
        settings = IntakeSettings(
            data_dir=Path(directory),
            **identity.settings(),
            smtp_server_enabled=False,
            relay_enabled=False,
            domain_verification="trust",
        )
        await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
        app, runtime = bootstrap(settings, MemoryAttachmentStore())
        runtime.verifier.key_ttl = runtime.verifier.revocations_ttl = 3600.0
        caller = Caller(app, identity.api_key("bench", ["admin"]))
        numbers = iter(range(10**9))

        async def worker(count: int) -> None:
            for _ in range(count):
                status, answer = await caller.post("/v1/tickets", ticket(next(numbers)))
                assert status == 201, answer

        await worker(50)  # warm: the key introspected, statements compiled
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        wall, cpu = time.perf_counter(), time.thread_time()
        await asyncio.gather(*(worker(tickets // concurrency) for _ in range(concurrency)))
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        done = tickets // concurrency * concurrency
        print(
            f"POST /v1/tickets x{done}, {concurrency} at a time: "
            f"{cpu / done * 1000:.3f} ms CPU of the event loop's thread per request "
            f"({wall / done * 1000:.3f} ms wall)"
        )
        await runtime.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", type=Path, default=None)
    options = parser.parse_args()
    logging.disable(logging.INFO)
    import uvloop

    uvloop.run(run(options.tickets, options.concurrency, options.profile))


if __name__ == "__main__":
    main()
