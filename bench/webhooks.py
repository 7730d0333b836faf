"""Signed webhook deliveries per second, next to plain httpx POSTs to the same receiver.

The receiver is a minimal ASGI app under uvicorn in its own process (so its cost is the same for
both sides and not counted against the sender). Each round sends the same number of POSTs with the
same concurrency, alternating:

- baseline: a plain ``httpx.AsyncClient`` POSTing the body;
- helpline: notify's webhook sender as the service builds it (``bootstrap.guarded_webhooks``: the
  SSRF-guarded h11 client, DNS check on every connection, no redirects) signing every request the
  Standard Webhooks way and reading back the response excerpt for the ledger.

The figure is the sending path only; the ledger writes around each attempt are not in it.

Usage: ``python bench/webhooks.py [--requests 1000] [--concurrency 32] [--rounds 5]``.
"""

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from common import median, write_result
from opentelemetry.sdk.trace import TracerProvider

from helpline_devstack._proc import free_port
from helpline_notify.adapters.webhooks import GuardedWebhookSender
from helpline_notify.bootstrap import guarded_webhooks
from helpline_notify.domain.model import new_webhook_secret
from helpline_notify.service_layer.ports import WebhookRequest

BODY = '{"type":"helpline.ticket.assigned.v1","timestamp":"2026-03-02T09:30:00Z","data":{' + (
    '"ticket_id":"0b7c","agent_name":"Ann","reason":"' + "x" * 300 + '"}}'
)
RECEIVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def start_receiver(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The receiver process and its URL, once it accepts connections."""
    (directory / "receiver.py").write_text(RECEIVER)
    port = free_port()
    process = subprocess.Popen(
        # Keep idle connections open across rounds: uvicorn closes them after 5 s, and a
        # client reusing one at that moment gets a ReadError (a benchmark artefact, not a
        # property of either client).
        [
            sys.executable,
            "-m",
            "uvicorn",
            "receiver:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--timeout-keep-alive",
            "600",
        ],
        cwd=directory,
    )
    url = f"http://127.0.0.1:{port}/hook"
    for _ in range(100):
        try:
            httpx.post(url, content=b"{}")
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the receiver did not start")


async def run_concurrently(count: int, concurrency: int, send: "SendOne") -> float:
    """Requests per second of ``count`` sends, ``concurrency`` at a time."""
    queue = iter(range(count))

    async def lane() -> None:
        for index in queue:
            await send(index)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


class SendOne:
    """A callable sending request number ``index``."""

    async def __call__(self, index: int) -> None:
        raise NotImplementedError


class PlainPost(SendOne):
    """The baseline: a plain httpx POST."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client, self.url = client, url

    async def __call__(self, index: int) -> None:
        response = await self.client.post(
            self.url, content=BODY.encode(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 204


class SignedDelivery(SendOne):
    """Notify's signed, SSRF-guarded send."""

    def __init__(self, sender: GuardedWebhookSender, url: str) -> None:
        self.sender, self.url, self.secret = sender, url, new_webhook_secret()

    async def __call__(self, index: int) -> None:
        response = await self.sender.send(
            WebhookRequest(url=self.url, message_id=f"msg_{index}", body=BODY, secret=self.secret)
        )
        assert response.status_code == 204


async def measure(
    url: str, requests: int, concurrency: int, rounds: int
) -> tuple[list[float], list[float]]:
    """Rates of the baseline and of signed deliveries, one per round each, alternating."""
    plain_client = httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency))
    sender = guarded_webhooks(
        allow_private_networks=True,
        timeout=15.0,
        max_connections=concurrency,
        provider=TracerProvider(),
    )
    baseline, signed = [], []
    try:
        await run_concurrently(200, concurrency, PlainPost(plain_client, url))  # warm-up
        await run_concurrently(200, concurrency, SignedDelivery(sender, url))
        for _ in range(rounds):
            baseline.append(
                await run_concurrently(requests, concurrency, PlainPost(plain_client, url))
            )
            signed.append(
                await run_concurrently(requests, concurrency, SignedDelivery(sender, url))
            )
    finally:
        await plain_client.aclose()
        await sender.aclose()
    return baseline, signed


def main() -> int:
    """Run the benchmark and write ``bench/results/webhooks.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        receiver, url = start_receiver(directory)
        try:
            baseline, signed = asyncio.run(
                measure(url, args.requests, args.concurrency, args.rounds)
            )
        finally:
            receiver.terminate()
            receiver.wait(10)
    value, base = median(signed), median(baseline)
    write_result(
        "webhooks",
        metric="signed webhook deliveries per second",
        value=value,
        unit="req/s",
        baseline_value=base,
        baseline="plain httpx POSTs to the same receiver",
        target="at least 0.5 x baseline",
        passed=value >= 0.5 * base,
        packages=("httpx", "httpcore", "h11", "standardwebhooks", "uvicorn"),
        extra={
            "rounds": {"baseline": baseline, "signed": signed},
            "requests_per_round": args.requests,
            "concurrency": args.concurrency,
            "run_id": str(uuid.uuid4()),
            "measured_at": datetime.now(UTC).isoformat(),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
