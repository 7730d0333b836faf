"""What the routing end-to-end and fault tests share: processes, agents, tickets, the record."""

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from helpline_devstack._proc import free_port
from helpline_devstack.stack import ServiceProcess, Stack
from helpline_devstack.testing import Record, TopicRecorder
from helpline_shared import topics
from helpline_shared.envelope import to_record
from helpline_shared.events import Requester, TicketCreated
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()


@dataclass
class RoutingReplicas:
    """Routing processes sharing one database, topics and consumer group."""

    home: Path
    bootstrap_servers: str
    database_url: str
    prefix: str
    stacks: dict[str, Stack] = field(default_factory=dict)

    def start(self, replica: str, environment: dict[str, str] | None = None) -> ServiceProcess:
        """Start (or restart) routing process ``replica``."""
        stack = self.stacks.get(replica) or Stack(
            self.home / replica,
            self.bootstrap_servers,
            ports={"routing": free_port()},
            database_urls={"routing": self.database_url},
            environment={
                "HELPLINE_TOPIC_PREFIX": self.prefix,
                **IDENTITY.environment(),
                "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
                **(environment or {}),
            },
        )
        self.stacks[replica] = stack
        return stack.start("routing")

    def url(self, replica: str) -> str:
        """Base URL of a running replica."""
        return self.stacks[replica].running["routing"].url

    def kill(self, replica: str) -> None:
        """SIGKILL a replica, as a crash would."""
        self.stacks[replica].kill("routing")

    def stop_all(self) -> None:
        """Stop every replica still running."""
        for stack in self.stacks.values():
            stack.stop_all()


def client(tenant: str) -> httpx.Client:
    """An HTTP client holding an admin API key of ``tenant``."""
    return httpx.Client(headers={"authorization": f"Bearer {IDENTITY.api_key(tenant)}"}, timeout=30)


def register_agent(
    base_url: str, tenant: str, name: str, skills: dict[str, int], capacity: dict[str, int]
) -> dict[str, Any]:
    """Register an available agent over the API."""
    with client(tenant) as http:
        response = http.post(
            base_url + "/v1/agents",
            json={
                "name": name,
                "email": f"{name.lower()}@{tenant}.example.com",
                "skills": skills,
                "capacity": capacity,
                "presence": "available",
            },
        )
        assert response.status_code == 201, response.text
        agent: dict[str, Any] = response.json()
        return agent


def new_ticket(
    tenant: str, ticket_id: str, tags: Sequence[str], channel: str = "api"
) -> TicketCreated:
    """A TicketCreated as intake would publish it."""
    return TicketCreated(
        tenant_id=tenant,
        ticket_id=ticket_id,
        occurred_at=utcnow(),
        subject="Export fails",
        description="since the upgrade",
        requester=Requester(email="cy@example.org"),
        priority=random.choice(["low", "normal", "high", "urgent"]),
        type="corrective",
        tags=tuple(tags),
        channel=channel,
    )  # type: ignore[arg-type]


def publish(bootstrap_servers: str, prefix: str, events: Sequence[TicketCreated]) -> None:
    """Publish ticket events on the prefixed tickets topic, as intake's relay would."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=5)
        await producer.start()
        try:
            for event in events:
                record = to_record(event, source="/tests/routing")
                await producer.send(
                    prefix + topics.TICKETS,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                )
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


def distinct(records: list[Record]) -> list[Record]:
    """Records with duplicates of the same CloudEvent (a republished outbox row) removed."""
    seen: dict[str, Record] = {}
    for record in records:
        seen.setdefault(record.event_id, record)
    return list(seen.values())


def routing_events(recorder: TopicRecorder, prefix: str, kind: str) -> list[Record]:
    """Distinct routing events of ``helpline.ticket.<kind>.v1``."""
    return distinct(
        [
            record
            for record in recorder.records(prefix + topics.ROUTING)
            if record.event_type == f"helpline.ticket.{kind}.v1"
        ]
    )
