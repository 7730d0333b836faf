"""The broker's hold of an empty fetch is a setting (HELPLINE_CONSUMER_FETCH_MAX_WAIT_MS) that
reaches every consumer the runtime subscribes."""

from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from opentelemetry.trace import NoOpTracer

from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, subscribe_table
from helpline_shared.runtime.settings import FETCH_MAX_WAIT_MS, ServiceSettings
from helpline_shared.runtime.testing import RecordingProducer
from helpline_shared.runtime.uow import SqlUnitOfWork


def fetch_wait_of(broker: KafkaBroker) -> Any:
    [subscriber] = broker.subscribers
    return subscriber._connection_args["fetch_max_wait_ms"]  # type: ignore[attr-defined]


def no_unit_of_work() -> SqlUnitOfWork:
    raise AssertionError("nothing is consumed here")


def test_the_setting_defaults_to_the_runtime_default_and_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ServiceSettings().consumer_fetch_max_wait_ms == FETCH_MAX_WAIT_MS
    monkeypatch.setenv("HELPLINE_CONSUMER_FETCH_MAX_WAIT_MS", "150")
    assert ServiceSettings().consumer_fetch_max_wait_ms == 150


def test_a_subscribed_consumer_fetches_with_the_wait_it_is_given() -> None:
    broker = KafkaBroker("127.0.0.1:9", logger=None)
    subscribe_table(
        broker,
        topics=["t"],
        group="g",
        table=HandlerTable[SqlUnitOfWork]("test"),
        unit_of_work=no_unit_of_work,
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=NoOpTracer(),
        fetch_max_wait_ms=150,
    )
    assert fetch_wait_of(broker) == 150
