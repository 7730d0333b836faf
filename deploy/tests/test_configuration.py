"""Configuration: every setting is documented; a bad one stops a service, named."""

import os
import subprocess
import sys

import pytest

from helpline_cli.settings_doc import (
    NAMES_TARGET,
    PROGRAMS,
    TARGET,
    render,
    render_names,
    settings_class,
)


def test_every_setting_of_every_service_is_documented() -> None:
    documented = TARGET.read_text()
    for program in PROGRAMS:
        for name in settings_class(program).model_fields:
            assert f"`HELPLINE_{name.upper()}`" in documented, f"{program}: {name}"


def test_the_configuration_page_is_the_generated_one() -> None:
    assert TARGET.read_text() == render(), "stale: run python -m helpline_cli.settings_doc"


def test_the_list_of_known_variables_is_the_generated_one() -> None:
    assert NAMES_TARGET.read_text() == render_names(), (
        "stale: run python -m helpline_cli.settings_doc"
    )


def _command(program: str) -> str:
    """A command that reads the settings first: ``migrate``, or ``serve`` for the workspace
    (which has no database)."""
    return "serve" if program == "workspace" else "migrate"


@pytest.mark.parametrize("service", PROGRAMS)
def test_a_misspelt_variable_stops_each_service_at_start_naming_it(service: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"helpline_{service}", _command(service)],
        env={**os.environ, "HELPLINE_KAFKA_BOOTSTRAP_SERVER": "kafka:9092"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"helpline-{service}: unknown setting HELPLINE_KAFKA_BOOTSTRAP_SERVER (did you mean "
            "HELPLINE_KAFKA_BOOTSTRAP_SERVERS?)"
        )
    )


def test_a_misspelt_variable_stops_the_cli_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpline_cli", "tenants", "list"],
        env={**os.environ, "HELPLINE_OPERATOR_KEYS": "x"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert (
        "helpline: unknown setting HELPLINE_OPERATOR_KEYS (did you mean "
        "HELPLINE_OPERATOR_KEY?)" in result.stderr
    )


def test_an_invalid_setting_stops_the_service_at_start_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpline_routing", "migrate"],
        env={**os.environ, "HELPLINE_TIMER_BATCH_SIZE": "0", "HELPLINE_LOG_LEVEL": "LOUD"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "helpline-routing: invalid configuration: " in result.stderr
    assert "HELPLINE_TIMER_BATCH_SIZE:" in result.stderr
    assert "HELPLINE_LOG_LEVEL:" in result.stderr


def test_an_invalid_setting_stops_the_workspace_at_start_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpline_workspace", "serve"],
        env={
            **os.environ,
            "HELPLINE_SESSION_IDLE_SECONDS": "5",
            "HELPLINE_SESSION_COOKIE_SECURE": "maybe",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "helpline-workspace: invalid configuration: " in result.stderr
    assert "HELPLINE_SESSION_IDLE_SECONDS:" in result.stderr
    assert "HELPLINE_SESSION_COOKIE_SECURE:" in result.stderr
