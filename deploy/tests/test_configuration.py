"""Configuration: every setting is documented; a bad one stops a service, named."""

import os
import subprocess
import sys

import pytest

from helpline_cli.settings import SERVICES
from helpline_cli.settings_doc import NAMES_TARGET, TARGET, render, render_names, settings_class


def test_every_setting_of_every_service_is_documented() -> None:
    documented = TARGET.read_text()
    for service in SERVICES:
        for name in settings_class(service).model_fields:
            assert f"`HELPLINE_{name.upper()}`" in documented, f"{service}: {name}"


def test_the_configuration_page_is_the_generated_one() -> None:
    assert TARGET.read_text() == render(), "stale: run python -m helpline_cli.settings_doc"


def test_the_list_of_known_variables_is_the_generated_one() -> None:
    assert NAMES_TARGET.read_text() == render_names(), \
        "stale: run python -m helpline_cli.settings_doc"


@pytest.mark.parametrize("service", SERVICES)
def test_a_misspelt_variable_stops_each_service_at_start_naming_it(service: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"helpline_{service}", "migrate"],
        env={**os.environ, "HELPLINE_KAFKA_BOOTSTRAP_SERVER": "kafka:9092"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"helpline-{service}: unknown setting HELPLINE_KAFKA_BOOTSTRAP_SERVER (did you mean "
        "HELPLINE_KAFKA_BOOTSTRAP_SERVERS?)")


def test_a_misspelt_variable_stops_the_cli_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpline_cli", "tenants", "list"],
        env={**os.environ, "HELPLINE_OPERATOR_KEYS": "x"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "helpline: unknown setting HELPLINE_OPERATOR_KEYS (did you mean " \
        "HELPLINE_OPERATOR_KEY?)" in result.stderr


def test_an_invalid_setting_stops_the_service_at_start_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpline_routing", "migrate"],
        env={**os.environ, "HELPLINE_TIMER_BATCH_SIZE": "0", "HELPLINE_LOG_LEVEL": "LOUD"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "helpline-routing: invalid configuration: " in result.stderr
    assert "HELPLINE_TIMER_BATCH_SIZE:" in result.stderr
    assert "HELPLINE_LOG_LEVEL:" in result.stderr
