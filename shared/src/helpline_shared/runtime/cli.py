"""The command line every service has: ``serve`` (the default) and ``migrate``."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI
from pydantic import ValidationError

from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime, serve
from helpline_shared.runtime.settings import (
    ServiceSettings,
    UnknownVariable,
    refuse_unknown_variables,
)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def service_main(
    name: str,
    settings_class: type[SettingsT],
    bootstrap: Callable[[SettingsT], tuple[FastAPI, ServiceRuntime]],
    migrations: Path,
    argv: list[str] | None = None,
) -> None:
    """Parse the command line and run the service ``name``."""
    parser = argparse.ArgumentParser(prog=f"helpline-{name}")
    parser.add_argument("command", nargs="?", default="serve", choices=("serve", "migrate"))
    arguments = parser.parse_args(argv)
    try:
        refuse_unknown_variables(f"helpline-{name}", settings_class)
    except UnknownVariable as error:
        sys.exit(str(error))
    try:
        settings = settings_class()
    except ValidationError as error:
        problems = "; ".join(
            f"HELPLINE_{'_'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
            for item in error.errors()
        )
        sys.exit(f"helpline-{name}: invalid configuration: {problems}")
    url = settings.resolved_database_url(name)
    if arguments.command == "migrate" or settings.migrate_on_start:
        upgrade(migrations, url)
    if arguments.command == "serve":
        app, _runtime = bootstrap(settings)
        serve(app, settings, settings.http_port)
