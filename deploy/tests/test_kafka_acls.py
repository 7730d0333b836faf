"""The ACL table says what each service really consumes and produces, and partners get no more."""

import importlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from helpline_cli.settings import SERVICES
from helpline_cli.settings_doc import settings_class
from helpline_shared import events
from helpline_shared.kafka_acls import (
    SERVICE_ACCESS,
    InvalidPartner,
    partner_acls,
    partner_user,
    service_acls,
)
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.topics import (
    AUDIT,
    PUBLIC_TOPICS,
    all_topics,
    dead_letter_topic,
    partner_topic,
)


@pytest.mark.parametrize("service", SERVICES)
def test_the_table_has_the_topics_each_bootstrap_subscribes_to(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribed: list[str] = []

    def record(_runtime: ServiceRuntime, topics: Sequence[str], *_handlers: object) -> None:
        subscribed.extend(topics)

    # Every service consumes through its handler table (consume).
    monkeypatch.setattr(ServiceRuntime, "consume", record)
    bootstrap = importlib.import_module(f"helpline_{service}.bootstrap").bootstrap
    _app, runtime = bootstrap(settings_class(service)(data_dir=tmp_path))
    assert runtime.name == service
    assert tuple(subscribed) == SERVICE_ACCESS[service].subscriptions[0].topics


def test_each_service_writes_the_topic_of_the_events_it_publishes() -> None:
    # Every event class names its topic; each topic has exactly one producing service, but
    # helpline.audit: every service but identity (which keeps the log) records its HTTP API's
    # writes and denials there.
    producers = {
        topic: [s for s, a in SERVICE_ACCESS.items() if topic in a.produces]
        for topic in {
            cls.topic
            for cls in events.__dict__.values()
            if isinstance(cls, type) and hasattr(cls, "topic")
        }
    }
    assert producers.pop(AUDIT) == [s for s in SERVICE_ACCESS if s != "identity"]
    assert producers and all(len(found) == 1 for found in producers.values()), producers


def test_a_service_writes_the_dead_letters_of_what_it_reads_but_never_reads_them() -> None:
    for service in SERVICE_ACCESS:
        acls = service_acls(service)
        read = {a.name for a in acls if a.resource == "topic" and a.operation == "Read"}
        written = {a.name for a in acls if a.resource == "topic" and a.operation == "Write"}
        assert all(not topic.endswith(".dlq") for topic in read), service
        assert {dead_letter_topic(t) for t in read} <= written, service


def test_a_partner_may_read_its_tenant_stream_only() -> None:
    acls = partner_acls("acme", "crm", topic_prefix="prod.")
    topics = {a.name for a in acls if a.resource == "topic"}
    assert topics == {"prod." + partner_topic("acme")}
    assert not topics & {"prod." + t for t in all_topics()}
    assert {a.operation for a in acls} == {"Read", "Describe"}
    assert {(a.resource, a.name, a.pattern) for a in acls if a.resource == "group"} == {
        ("group", "partner.acme.crm.", "prefix")
    }
    assert set(PUBLIC_TOPICS).isdisjoint(topics)


@pytest.mark.parametrize("name", ["a.b", "", "x" * 101, "a*", "ü"])
def test_a_partner_name_must_not_widen_its_prefix(name: str) -> None:
    with pytest.raises(InvalidPartner):
        partner_user("acme", name)
