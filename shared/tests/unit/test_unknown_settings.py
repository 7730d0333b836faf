"""A HELPLINE_* variable that no setting knows stops the program, named; tools' variables pass."""

import pytest

from helpline_shared.runtime.settings import (
    ServiceSettings,
    UnknownVariable,
    refuse_unknown_variables,
    unknown_variables,
    variable_names,
)

OWN = variable_names(ServiceSettings)


def test_a_misspelt_variable_is_refused_with_its_name_and_the_likely_one() -> None:
    with pytest.raises(UnknownVariable) as refused:
        refuse_unknown_variables(
            "helpline-routing", ServiceSettings, {"HELPLINE_KAFKA_BOOTSTRAP_SERVER": "kafka:9092"}
        )
    assert str(refused.value).startswith(
        "helpline-routing: unknown setting HELPLINE_KAFKA_BOOTSTRAP_SERVER (did you mean "
        "HELPLINE_KAFKA_BOOTSTRAP_SERVERS?)"
    )


def test_every_unknown_variable_is_named_at_once() -> None:
    assert unknown_variables(
        OWN,
        {
            "HELPLINE_NOPE": "1",
            "HELPLINE_KAFKA_PASSWORD": "x",
            "HELPLINE_LOG_LEVEL": "INFO",
            "PATH": "/bin",
        },
    ) == ["HELPLINE_KAFKA_PASSWORD", "HELPLINE_NOPE"]


def test_variables_of_the_other_helpline_programs_pass() -> None:
    # One ConfigMap, Secret or `make run` environment serves all services and the CLI.
    environ = {
        "HELPLINE_INTAKE_URL": "http://intake",
        "HELPLINE_SMTP_PORT": "25",
        "HELPLINE_TOKEN": "t",
        "HELPLINE_FIRST_RESPONSE_TARGETS": "{}",
    }
    assert unknown_variables(OWN, environ) == []


def test_variables_of_the_tools_pass() -> None:
    environ = {
        "HELPLINE_TEST_KAFKA_PORT": "1",
        "HELPLINE_FUZZ_SCALE": "2",
        "HELPLINE_DEV_KAFKA_SECURITY": "sasl_ssl",
        "HELPLINE_BENCH_X": "1",
        "HELPLINE_CACHE": "/tmp",
    }
    assert unknown_variables(OWN, environ) == []
