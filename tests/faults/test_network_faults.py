"""Network faults between a service and the broker, injected with Toxiproxy under load.

Escalation reaches Kafka only through the proxy (the broker advertises the proxy's address on a
listener of its own); intake and the test's instruments talk to the broker directly. After each
fault is removed every accepted ticket has exactly one SLA clock, and the consumer group settled
again after a bounded number of rebalances.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer
from helpline_devstack.stack import ServiceProcess, Stack
from helpline_devstack.testing import (
    TicketLoad,
    TopicRecorder,
    own_keys,
    readiness,
    unique_name,
    wait_until,
)
from helpline_devstack.toxiproxy import Proxy, Toxiproxy
from helpline_shared import topics
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.topics import PARTITIONS, all_topics

pytestmark = pytest.mark.integration

GROUP = "helpline-escalation"
CLOCK_STARTED = "helpline.sla.clock_started.v1"
TICKETS_AROUND_FAULT = 6
MAX_NEW_GENERATIONS = 3
"""A fault may cost the member its place once (removed, rejoined), never an endless cycle."""


@dataclass
class Link:
    """A broker, the proxy in front of it, and intake (direct) and escalation (proxied)."""

    kafka: KafkaNode
    proxy: Proxy
    intake: ServiceProcess
    escalation: ServiceProcess
    token: str


@pytest.fixture(scope="module")
def link(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Link]:
    """A dedicated broker whose second listener is only reachable through Toxiproxy."""
    home = tmp_path_factory.mktemp("network-faults")
    behind_proxy, api, listen, port, controller_port, intake_port, escalation_port = free_ports(7)
    with Toxiproxy(home / "toxiproxy", port=api) as toxiproxy:
        proxy = toxiproxy.proxy("kafka", upstream=f"127.0.0.1:{behind_proxy}", listen=listen)
        kafka = KafkaNode(
            home / "kafka",
            port=port,
            controller_port=controller_port,
            proxied=(behind_proxy, proxy.listen),
        )
        kafka.start()
        stem = unique_name("netfault")
        stack = Stack(
            home / "stack",
            kafka.bootstrap_servers,
            ports={"intake": intake_port, "escalation": escalation_port},
            database_urls={
                name: postgres.create_database(f"{stem}_{name}")
                for name in ("intake", "escalation")
            },
            service_environment=own_keys(),
            environment={
                **stand_in_identity().environment(),
                "HELPLINE_SMTP_SERVER_ENABLED": "false",
                "HELPLINE_RELAY_POLL_INTERVAL": "0.2",
            },
        )
        try:
            kafka.create_topics(all_topics(), PARTITIONS)
            intake = stack.start("intake")
            escalation = stack.start(
                "escalation", {"HELPLINE_KAFKA_BOOTSTRAP_SERVERS": proxy.address}
            )
            key = stand_in_identity().api_key(unique_name("net"))
            yield Link(kafka, proxy, intake, escalation, key)
        finally:
            stack.stop_all()
            kafka.stop()


def refuses(url: str) -> bool:
    """Escalation reports not ready: it cannot reach the broker."""
    return readiness(url) == 503


def answers_slowly(url: str) -> bool:
    """Escalation is ready, but its broker check takes the added latency."""
    started = time.monotonic()
    return readiness(url) == 200 and time.monotonic() - started >= 0.5


@dataclass(frozen=True)
class Fault:
    """How to inject one fault, how long to hold it, and how escalation shows it felt it."""

    inject: Callable[[Proxy], None]
    hold_seconds: float
    felt: Callable[[str], bool]


def latency(proxy: Proxy) -> None:
    for stream in ("upstream", "downstream"):
        proxy.add_toxic("latency", stream, latency=300, jitter=50)


def slow_close(proxy: Proxy) -> None:
    # Answers stop and each connection is closed only 3 s later; closes from the client
    # reach the broker 2 s late.
    proxy.add_toxic("timeout", "downstream", timeout=3000)
    proxy.add_toxic("slow_close", "upstream", delay=2000)


def reset_peer(proxy: Proxy) -> None:
    # Each answer is dropped and its connection reset half a second later.
    proxy.add_toxic("reset_peer", "downstream", timeout=500)


FAULTS = {
    "latency": Fault(latency, hold_seconds=8, felt=answers_slowly),
    "cut": Fault(Proxy.disable, hold_seconds=10, felt=refuses),
    "slow_close": Fault(slow_close, hold_seconds=8, felt=refuses),
    "reset_peer": Fault(reset_peer, hold_seconds=8, felt=refuses),
}


def heal(proxy: Proxy) -> None:
    """Remove every fault: toxics gone, the link enabled."""
    proxy.remove_all_toxics()
    proxy.enable()


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_network_fault_loses_and_doubles_nothing_and_the_group_settles(
    link: Link, name: str
) -> None:
    fault = FAULTS[name]
    generation_before = max(link.kafka.group_generations(GROUP), default=0)
    with TopicRecorder(link.kafka.bootstrap_servers, [topics.SLA]) as recorder:
        with TicketLoad(link.intake.url, link.token, interval=0.2) as load:
            wait_until(load.more_accepted(TICKETS_AROUND_FAULT), 60, "tickets before the fault")
            try:
                fault.inject(link.proxy)
                injected = time.monotonic()
                wait_until(
                    lambda: fault.felt(link.escalation.url), 30, f"escalation to feel the {name}"
                )
                time.sleep(max(0.0, fault.hold_seconds - (time.monotonic() - injected)))
            finally:
                heal(link.proxy)
            wait_until(
                lambda: readiness(link.escalation.url) == 200, 60, "escalation to be ready again"
            )
            wait_until(load.more_accepted(TICKETS_AROUND_FAULT), 60, "tickets after the fault")
        accepted = set(load.accepted)

        wait_until(
            lambda: accepted <= set(recorder.ids_by_ticket(CLOCK_STARTED)),
            90,
            "a clock for every accepted ticket",
        )
        time.sleep(2.0)  # a second clock, if there were one, arrives by now
        doubled = {
            ticket: ids
            for ticket, ids in recorder.ids_by_ticket(CLOCK_STARTED).items()
            if ticket in accepted and len(ids) != 1
        }
    assert doubled == {}, f"clocks started under more than one id: {doubled}"
    generations = link.kafka.group_generations(GROUP)
    assert generations, "the broker logged no generation of the group"
    assert generations[-1] - generation_before <= MAX_NEW_GENERATIONS, generations
    # The group is stable now: a while later it is still at the same generation.
    time.sleep(3.0)
    assert link.kafka.group_generations(GROUP)[-1] == generations[-1]
