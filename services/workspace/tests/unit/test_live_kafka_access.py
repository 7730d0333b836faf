"""The workspace's Kafka principal only reads what its live pages need, in groups of its own."""

from helpline_shared.kafka_acls import READER_ACCESS, SERVICE_ACCESS, Acl, reader_acls
from helpline_shared.topics import ROUTING, TICKETS
from helpline_workspace.live import consumer_group


def test_the_workspace_reads_routing_and_tickets_and_writes_nothing() -> None:
    acls = reader_acls("workspace", topic_prefix="prod.")
    assert {(a.name, a.operation) for a in acls if a.resource == "topic"} == {
        ("prod." + topic, operation)
        for topic in (ROUTING, TICKETS)
        for operation in ("Read", "Describe")
    }
    assert {a.operation for a in acls} == {"Read", "Describe"}
    assert not [a for a in acls if a.resource == "cluster"]
    assert "workspace" not in SERVICE_ACCESS  # no service group, lag or audit duties


def test_each_process_consumes_in_a_group_its_acl_prefix_covers() -> None:
    groups = {consumer_group() for _ in range(3)}
    assert len(groups) == 3
    [prefix] = [
        a for a in reader_acls("workspace") if a.resource == "group" and a.operation == "Read"
    ]
    assert prefix == Acl("group", READER_ACCESS["workspace"].group_prefix, "prefix", "Read")
    assert all(group.startswith(prefix.name) for group in groups)
