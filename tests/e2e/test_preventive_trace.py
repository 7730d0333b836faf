"""A preventive ticket is one trace: escalation's timer fires, calls intake, and every service
that handles the ticket joins the same trace (four OS processes, real Kafka and PostgreSQL,
spans exported over OTLP/HTTP to a receiver here)."""

from pathlib import Path

import httpx
import pytest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import SERVICE_PORTS, Stack
from helpline_devstack.testing import (
    OtlpReceiver,
    Span,
    TopicRecorder,
    own_keys,
    unique_name,
    wait_until,
)
from helpline_shared import topics
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CREATED = "helpline.ticket.created.v1"
FIRE = "preventive.occurrence timer fire"
EVERY_5_SECONDS = "* * * * * */5"  # croniter: a sixth field is seconds
SCHEDULE = {
    "cron": EVERY_5_SECONDS,
    "time_zone": "UTC",
    "ticket": {
        "subject": "Rotate the backup tapes",
        "description": "As agreed.",
        "requester_email": "ops@example.org",
        "tags": ["backups"],
    },
}


def ancestry(spans: list[Span], span: Span) -> list[Span]:
    """``span`` and its parents up to the root, as far as they were received."""
    by_id = {s.span_id: s for s in spans}
    chain = [span]
    while chain[-1].parent_span_id in by_id:
        chain.append(by_id[chain[-1].parent_span_id])
    return chain


def consumer_chains(spans: list[Span], topic: str) -> dict[str, list[tuple[str, str]]]:
    """(service, name) from each consumer's span of ``topic`` up to the trace's root."""
    return {
        span.service: [(s.service, s.name) for s in ancestry(spans, span)]
        for span in spans
        if span.name == f"process {topic}"
    }


def test_a_preventive_tickets_journey_is_one_trace_from_the_timer_to_every_consumer(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path: Path
) -> None:
    prefix = unique_name("ptrace") + "."
    kafka.create_topics([prefix + topic for topic in all_topics()], PARTITIONS)
    tickets_topic = prefix + topics.TICKETS
    ports = dict(zip(SERVICE_PORTS, free_ports(len(SERVICE_PORTS)), strict=True))
    with OtlpReceiver() as receiver:
        stack = Stack(
            tmp_path,
            kafka.bootstrap_servers,
            ports=ports,
            database_urls={name: postgres.create_database(unique_name(name)) for name in ports},
            service_environment=own_keys(),
            environment={
                "HELPLINE_TOPIC_PREFIX": prefix,
                **stand_in_identity().environment(),
                "HELPLINE_INTAKE_URL": f"http://127.0.0.1:{ports['intake']}",
                "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
                # The schedule fires every 5 s; production refuses that.
                "HELPLINE_PREVENTIVE_MIN_INTERVAL": "1",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                "OTEL_BSP_SCHEDULE_DELAY": "200",
            },
        )
        tenant = unique_name("acme")
        admin = {"authorization": f"Bearer {stand_in_identity().api_key(tenant)}"}
        try:
            for name in SERVICE_PORTS:
                stack.start(name)
            with TopicRecorder(kafka.bootstrap_servers, [tickets_topic]) as recorder:
                response = httpx.put(
                    stack.running["escalation"].url + "/v1/preventive-schedules/tapes",
                    json=SCHEDULE,
                    headers=admin,
                )
                assert response.status_code == 200, response.text
                created = wait_until(
                    lambda: [
                        r for r in recorder.events(CREATED) if r.data()["tenant_id"] == tenant
                    ],
                    30,
                    "a preventive ticket",
                )[0]
            trace_id = created.headers["traceparent"].decode().split("-")[1]

            def whole_trace() -> list[Span] | None:
                spans = receiver.traces(trace_id)
                chains = consumer_chains(spans, tickets_topic)
                complete = [chain for chain in chains.values() if chain[-1][1] == FIRE]
                return spans if len(complete) >= 3 else None

            spans = wait_until(whole_trace, 30, "every consumer of the ticket in its trace")
        finally:
            stack.stop_all()

    # Each consumer's span descends, without a gap, from the timer that fired the occurrence.
    journey = [
        ("helpline-intake", f"send {tickets_topic}"),
        ("helpline-intake", "POST /v1/tickets"),
        ("helpline-escalation", "POST"),
        ("helpline-escalation", FIRE),
    ]
    chains = consumer_chains(spans, tickets_topic)
    for service in ("helpline-routing", "helpline-notify", "helpline-escalation"):
        chain = chains[service]
        assert chain[0] == (service, f"process {tickets_topic}")
        assert [step for step in chain if step in journey] == journey, chain
        assert chain[-1] == ("helpline-escalation", FIRE), "the occurrence starts its own trace"
    assert any(s.service == "helpline-intake" and s.name.startswith("INSERT") for s in spans), (
        "intake's database statements are part of the trace"
    )
