"""``make run``'s ports: the documented defaults, each moved by its HELPLINE_DEV_*_PORT."""

import pytest

from helpline_devstack.run import DEFAULT_PORTS, InvalidPort, dev_ports


def test_the_defaults_are_the_documented_ports() -> None:
    assert dev_ports({}) == {
        "intake": 8080,
        "routing": 8081,
        "escalation": 8082,
        "notify": 8083,
        "identity": 8084,
        "workspace": 8085,
        "kafka": 9092,
        "kafka_controller": 9093,
        "smtp_sink": 2526,
        "intake_smtp": 2525,
    }


def test_a_variable_moves_one_port() -> None:
    ports = dev_ports(
        {"HELPLINE_DEV_INTAKE_PORT": "18080", "HELPLINE_DEV_KAFKA_CONTROLLER_PORT": "19093"}
    )
    assert (ports["intake"], ports["kafka_controller"]) == (18080, 19093)
    assert ports["routing"] == DEFAULT_PORTS["routing"]


@pytest.mark.parametrize("value", ["http", "0", "70000", "8081"])
def test_a_bad_or_clashing_port_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(InvalidPort, match="HELPLINE_DEV_INTAKE_PORT"):
        dev_ports({"HELPLINE_DEV_INTAKE_PORT": value})
