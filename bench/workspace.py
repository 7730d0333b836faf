"""The workspace's pages with 10,000 tickets in the tenant: time to render each page, next to the
API calls it is built from, made directly in the same run.

Identity, intake, routing, escalation and the workspace run as processes on SQLite (``make
run``'s default) and a local Kafka broker; notify is stopped once the tenant is set up (no page
measured here reads it, and its mail would only add noise). The tenant gets ``--tickets``
tickets through intake's API, an agent who is assigned some of them, and a lead. Then, per page,
``--requests`` sequential requests by a signed-in browser session (cookie, CSRF as a browser
has them) against ``--requests`` sequential calls of the APIs that page makes, with the same
person's access token and a kept-alive connection: the baseline is what the page cannot be
faster than, so the ratio is the workspace's own cost. Medians and p95 per page.

Target (issue 15): every page's p95 under 100 ms.

Usage: ``python bench/workspace.py [--tickets 10000] [--requests 200]``.
"""

import argparse
import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import cpu_seconds, figure, median, percentile, write_result

from helpline_devstack._proc import free_ports
from helpline_devstack.identity import start_with_identity
from helpline_devstack.journeys import PASSWORD, Helpline
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.mailsink import MailSink
from helpline_devstack.stack import Stack
from helpline_devstack.testing import unique_name
from helpline_shared.topics import PARTITIONS, all_topics

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".helpline" / "bench-workspace"
TARGET_MS = 100.0
PRIORITIES = ("low", "normal", "high", "urgent")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


Call = tuple[str, str, dict[str, str]]
"""An API call a page makes: service, path, query."""


@dataclass
class Page:
    """A page of the workspace and the API calls it is made of, in stages: the calls of one
    stage are made at the same time (as the page makes them), the stages one after another."""

    name: str
    path: str
    stages: list[list[Call]]
    person: str = "agent"


async def _seed(intake: str, token: str, count: int, concurrency: int = 16) -> float:
    """Post ``count`` tickets; seconds it took."""
    started = time.monotonic()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)
    async with httpx.AsyncClient(
        base_url=intake, timeout=60, headers={"authorization": f"Bearer {token}"}
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                answer = await client.post(
                    "/v1/tickets",
                    json={
                        "subject": f"Export {index} fails after the upgrade",
                        "description": f"Ticket {index}: the nightly export stops with error 42.",
                        "requester": {
                            "email": f"customer{index % 500}@customer.example",
                            "name": f"Customer {index % 500}",
                        },
                        "priority": PRIORITIES[index % len(PRIORITIES)],
                        "tags": ["exports"],
                    },
                )
                answer.raise_for_status()
                if index and index % 1000 == 0:
                    print(f"  {index} tickets posted", flush=True)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started


def _settle(
    stack: Stack, names: tuple[str, ...], quiet: float = 0.3, timeout: float = 1800
) -> None:
    """Wait until the services use less than ``quiet`` CPU seconds over two seconds."""
    roots = {name: stack.running[name].process.pid for name in names}
    deadline = time.monotonic() + timeout
    before = cpu_seconds(roots)
    while time.monotonic() < deadline:
        time.sleep(2)
        now = cpu_seconds(roots)
        if sum(now.values()) - sum(before.values()) < quiet:
            return
        before = now
    raise TimeoutError("the services did not settle")


def _browser(workspace: str, helpline: Helpline, email: str) -> httpx.Client:
    """A client signed in to the workspace through its form, as a browser is."""
    client = httpx.Client(base_url=workspace, timeout=30)
    form = client.get("/signin")
    token = CSRF.search(form.text)
    assert token, form.text
    answer = client.post(
        "/signin",
        data={
            "tenant": helpline.tenant,
            "email": email,
            "password": PASSWORD,
            "timezone": "Europe/Berlin",
            "next": "/work",
            "csrf_token": token.group(1),
        },
    )
    assert answer.status_code == 303, answer.text
    return client


async def _timed(call: Callable[[], Awaitable[None]], requests: int) -> list[float]:
    """Milliseconds of each of ``requests`` sequential calls (after two warm-up calls)."""
    for _ in range(2):
        await call()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure(
    page: Page,
    browser: httpx.AsyncClient,
    api: httpx.AsyncClient,
    urls: dict[str, str],
    requests: int,
) -> dict[str, Any]:
    """The page's and its APIs' latencies, interleaved in rounds of ten to share the noise."""
    page_ms: list[float] = []
    api_ms: list[float] = []

    async def render() -> None:
        answer = await browser.get(page.path)
        assert answer.status_code == 200, f"{page.path}: {answer.status_code} {answer.text[:300]}"

    async def one(call: Call) -> None:
        service, path, params = call
        answer = await api.get(urls[service] + path, params=params)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"

    async def direct() -> None:
        for stage in page.stages:
            await asyncio.gather(*(one(call) for call in stage))

    for _ in range(max(1, requests // 10)):
        page_ms += await _timed(render, 10)
        api_ms += await _timed(direct, 10)
    return {
        "page_p50_ms": round(median(page_ms), 2),
        "page_p95_ms": round(percentile(page_ms, 0.95), 2),
        "apis_p50_ms": round(median(api_ms), 2),
        "apis_p95_ms": round(percentile(api_ms, 0.95), 2),
        "requests": len(page_ms),
    }


async def measure_as(
    page: Page, workspace: str, helpline: Helpline, email: str, urls: dict[str, str], requests: int
) -> dict[str, Any]:
    """:func:`measure` for ``email``: a browser session and the same person's access token."""
    signed_in = _browser(workspace, helpline, email)
    cookies = signed_in.cookies
    signed_in.close()
    token = helpline.sign_in(email)
    async with (
        httpx.AsyncClient(base_url=workspace, timeout=30, cookies=cookies) as browser,
        httpx.AsyncClient(timeout=30, headers={"authorization": f"Bearer {token}"}) as api,
    ):
        return await measure(page, browser, api, urls, requests)


def main() -> None:
    """Run the benchmark; write ``bench/results/workspace_pages.json``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    arguments = parser.parse_args()
    kafka = KafkaNode(HOME / "kafka", port=27192, controller_port=27193)
    kafka.start()
    prefix = unique_name("wsbench") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    home = HOME / prefix.rstrip(".")
    names = ("identity", "intake", "routing", "escalation", "notify", "workspace")
    # All ports at once (``free_ports``): one after another, a released port may repeat.
    sink_port, *service_ports = free_ports(1 + len(names))
    sink = MailSink(home / "mail", port=sink_port)
    sink.start()
    stack = Stack(
        home,
        kafka.bootstrap_servers,
        ports=dict(zip(names, service_ports, strict=True)),
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            "HELPLINE_LOG_LEVEL": "WARNING",
            "HELPLINE_SMTP_PORT": str(sink.port),
            "HELPLINE_SMTP_SERVER_ENABLED": "false",
        },
    )
    try:
        for service in start_with_identity(stack, home, "demo", workspace=True):
            print(f"  {service.name} ready", flush=True)
        helpline = Helpline(stack, home, sink, 0)
        urls = {name: helpline.url(name) for name in names}
        agent = helpline.person("agent", "Bench Agent", skills={"exports": 5})
        helpline.admin(
            "PATCH",
            "routing",
            f"/v1/agents/{agent['agent_id']}",
            {"capacity": {"api": 25, "email": 25}},
        )
        lead = helpline.person("lead", "Bench Lead")
        stack.stop("notify")
        print(f"posting {arguments.tickets} tickets...", flush=True)
        seeded = asyncio.run(_seed(urls["intake"], helpline.admin_key, arguments.tickets))
        print(f"  posted in {seeded:.0f} s; waiting for the services to settle...", flush=True)
        _settle(stack, ("intake", "routing", "escalation"))
        assigned = helpline.admin(
            "GET", "intake", "/v1/tickets", params={"assignee": agent["agent_id"], "limit": "1"}
        )["items"]
        ticket = (
            assigned[0]["id"]
            if assigned
            else helpline.admin("GET", "intake", "/v1/tickets", params={"limit": "1"})["items"][0][
                "id"
            ]
        )
        agent_id = agent["agent_id"]
        open_statuses = ("new", "open", "pending", "on_hold")
        pages = [
            Page(
                "my work",
                "/work",
                [
                    [("routing", "/v1/agents", {"user_id": agent["user_id"]})],
                    [
                        ("routing", "/v1/offers", {"agent_id": agent_id, "status": "pending"}),
                        *(
                            (
                                "intake",
                                "/v1/tickets",
                                {
                                    "assignee": agent_id,
                                    "status": status,
                                    "sort": "sla",
                                    "limit": "100",
                                },
                            )
                            for status in open_statuses
                        ),
                    ],
                ],
            ),
            Page(
                "tickets",
                "/tickets",
                [[("intake", "/v1/tickets", {"limit": "25"}), ("routing", "/v1/agents", {})]],
            ),
            Page(
                "tickets: open, urgent, by SLA",
                "/tickets?status=open&priority=urgent&sort=sla",
                [
                    [
                        (
                            "intake",
                            "/v1/tickets",
                            {"status": "open", "priority": "urgent", "sort": "sla", "limit": "25"},
                        ),
                        ("routing", "/v1/agents", {}),
                    ]
                ],
            ),
            Page(
                "tickets: search",
                "/tickets?q=customer42",
                [
                    [
                        ("intake", "/v1/tickets", {"q": "customer42", "limit": "25"}),
                        ("routing", "/v1/agents", {}),
                    ]
                ],
            ),
            Page(
                "ticket",
                f"/tickets/{ticket}",
                [
                    [
                        ("intake", f"/v1/tickets/{ticket}", {}),
                        ("intake", f"/v1/tickets/{ticket}/messages", {}),
                        ("escalation", f"/v1/tickets/{ticket}/sla", {}),
                        ("routing", f"/v1/tickets/{ticket}/routing", {}),
                        ("routing", "/v1/agents", {}),
                    ]
                ],
            ),
            Page(
                "dashboard",
                "/dashboard",
                [
                    [
                        ("intake", "/v1/reports/backlog", {}),
                        ("escalation", "/v1/reports/sla", {"days": "7"}),
                        ("escalation", "/v1/reports/sla", {"days": "30"}),
                        ("routing", "/v1/reports/agents", {}),
                    ]
                ],
                person="lead",
            ),
        ]
        people = {"agent": agent, "lead": lead}
        results: dict[str, dict[str, Any]] = {}
        for page in pages:
            results[page.name] = asyncio.run(
                measure_as(
                    page,
                    urls["workspace"],
                    helpline,
                    people[page.person]["email"],
                    urls,
                    arguments.requests,
                )
            )
            print(
                f"  {page.name:<32} page p50 {results[page.name]['page_p50_ms']:7.1f} ms "
                f"p95 {results[page.name]['page_p95_ms']:7.1f} ms | its APIs p50 "
                f"{results[page.name]['apis_p50_ms']:7.1f} ms p95 "
                f"{results[page.name]['apis_p95_ms']:7.1f} ms",
                flush=True,
            )
    finally:
        stack.stop_all()
        sink.stop()
        kafka.stop()
    worst = max(results, key=lambda name: results[name]["page_p95_ms"])
    write_result(
        "workspace_pages",
        metric="slowest page p95 (ms), 10k tickets",
        value=results[worst]["page_p95_ms"],
        unit="ms",
        baseline_value=results[worst]["apis_p95_ms"],
        baseline="the same page's API calls made directly (p95)",
        target=f"every page p95 < {TARGET_MS:g} ms",
        passed=all(r["page_p95_ms"] < TARGET_MS for r in results.values()),
        higher_is_better=False,
        packages=("fastapi", "jinja2", "httpx", "uvicorn"),
        extra={
            "tickets": arguments.tickets,
            "slowest_page": worst,
            "pages": results,
            "figures": {
                f"{name} p95": figure(
                    r["page_p95_ms"],
                    "ms",
                    f"< {TARGET_MS:g}",
                    r["page_p95_ms"] < TARGET_MS,
                    apis_p95_ms=r["apis_p95_ms"],
                )
                for name, r in results.items()
            },
        },
    )


if __name__ == "__main__":
    main()
