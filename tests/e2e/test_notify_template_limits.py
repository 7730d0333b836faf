"""A template that loops for ever fails its email within the limit while notify stays responsive.

Notify runs as its own OS process on the real broker and PostgreSQL; the test saves a template
that is harmless on sample data and endless for one ticket, sends that ticket's event, and polls
``/healthz`` the whole time the render runs.
"""

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import Stack
from helpline_devstack.testing import unique_name
from helpline_shared.envelope import to_record
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TENANT = "acme"
RENDER_TIMEOUT = 1.0
CREATED = "helpline.ticket.created.v1"
ENDLESS = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)


@pytest.fixture(scope="module")
def notify(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str]]:
    """Notify alone, on its own topics and database, with a 1 s render limit."""
    prefix = unique_name("tpl") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    notify_port, smtp_port = free_ports(2)
    stack = Stack(
        tmp_path_factory.mktemp("template-limits"),
        kafka.bootstrap_servers,
        ports={"notify": notify_port},
        database_urls={"notify": postgres.create_database(prefix.rstrip(".") + "_notify")},
        environment={
            "HELPLINE_TOPIC_PREFIX": prefix,
            **stand_in_identity().environment(),
            "HELPLINE_SMTP_PORT": str(smtp_port),
            "HELPLINE_TEMPLATE_RENDER_TIMEOUT": str(RENDER_TIMEOUT),
        },
    )
    try:
        stack.start("notify")
        yield stack, prefix
    finally:
        stack.stop_all()


def _client(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=stack.running["notify"].url,
        timeout=10,
        headers={"authorization": f"Bearer {stand_in_identity().api_key(TENANT)}"},
    )


async def _emit(kafka: KafkaNode, prefix: str, event: TicketCreated) -> None:
    record = to_record(event, source="/tests/e2e")
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            prefix + record.topic, value=record.value, key=record.key, headers=list(record.headers)
        )
    finally:
        await producer.stop()


def test_saving_an_endless_template_is_refused_naming_the_limit(notify: tuple[Stack, str]) -> None:
    stack, _prefix = notify
    with _client(stack) as client:
        for _worker in range(2):  # both render workers started, so only the render is timed
            assert (
                client.put(
                    f"/v1/templates/{CREATED}/de", json={"subject": "Hi", "text": "Hallo"}
                ).status_code
                == 204
            )
        started = time.monotonic()
        refused = client.put(f"/v1/templates/{CREATED}/en", json={"subject": "Hi", "text": ENDLESS})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"] == "rendering took longer than 1 s"
        assert time.monotonic() - started < RENDER_TIMEOUT + 3


def test_an_endless_loop_fails_its_email_while_healthz_answers_fast(
    notify: tuple[Stack, str], kafka: KafkaNode
) -> None:
    stack, prefix = notify
    ticket_id = unique_name("ticket")
    with _client(stack) as client:
        saved = client.put(
            f"/v1/templates/{CREATED}/en",
            json={
                "subject": "Got it",
                "text": "{% if ticket.subject == 'boom' %}" + ENDLESS + "{% endif %}Hello",
            },
        )
        assert saved.status_code == 204, saved.text
        asyncio.run(
            _emit(
                kafka,
                prefix,
                TicketCreated(
                    tenant_id=TENANT,
                    ticket_id=ticket_id,
                    occurred_at=utcnow(),
                    subject="boom",
                    description="",
                    requester=Requester(email="carol@customer.example"),
                    priority="normal",
                    type="question",
                    channel="api",
                ),
            )
        )

        health_ms: list[float] = []
        delivery: dict[str, Any] | None = None
        deadline = time.monotonic() + 60
        while delivery is None and time.monotonic() < deadline:
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            health_ms.append((time.monotonic() - started) * 1000)
            items = client.get("/v1/deliveries", params={"ticket_id": ticket_id}).json()["items"]
            delivery = items[0] if items else None
            time.sleep(0.02)

    assert delivery is not None, "notify never recorded the ticket's acknowledgement"
    assert delivery["status"] == "suppressed"
    assert "rendering took longer than 1 s" in delivery["last_error"]
    # Polled every ~20 ms from before the event until its outcome: the 1 s render ran meanwhile.
    assert len(health_ms) >= 10
    assert max(health_ms) < 100, [round(ms) for ms in health_ms]
