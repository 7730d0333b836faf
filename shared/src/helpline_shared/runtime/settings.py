"""Settings every service shares; each service's ``config.py`` extends this one class.

A ``HELPLINE_*`` variable that the starting program does not know stops it
(:func:`refuse_unknown_variables`), except the variables of the other Helpline programs (one
ConfigMap, Secret or ``make run`` environment serves them all) and those of the tools
(:data:`TOOL_PREFIXES`).
"""

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from helpline_shared.kafka_security import KafkaClientSettings
from helpline_shared.runtime.setting_names import KNOWN_VARIABLES

FETCH_MAX_WAIT_MS = 50
"""How long the broker holds a consumer's fetch that finds nothing new, by default
(``consumer_fetch_max_wait_ms``). While one fetch waits there, aiokafka sends no other fetch
to that broker; a partition whose records sat unconsumed past aiokafka's prefetch backoff (a
busy consumer) was left out of that fetch, so its next records wait for the fetch to return:
at 500 ms that stall showed as p99 latency under load. Shorter costs the services and the
broker more idle fetches (about 1000 / this many a second per consumer). Idle CPU under
``make run`` (ms per second; intake, routing, escalation, notify, Kafka): 50 ms: 18, 18, 16,
30, 124; 100 ms: 12, 12, 10, 23, 87; 200 ms: 9, 10, 9, 21, 95. 50 stays the default: latency
is the issue's target, and at 100 ms p50 201 -> assigned at 5/s was no better (noisy)."""

TOOL_PREFIXES: Final = ("HELPLINE_TEST_", "HELPLINE_FUZZ_", "HELPLINE_DEV_", "HELPLINE_BENCH_")
"""Variables of the test suite, the fuzzers, the devstack and the benchmarks: no program's."""
TOOL_VARIABLES: Final = frozenset({"HELPLINE_CACHE"})
"""Single tool variables (the devstack's jar and binary cache)."""


class UnknownVariable(ValueError):
    """A ``HELPLINE_*`` variable no setting knows (a typo, or a setting that was removed)."""


def variable_names(settings_class: type[BaseSettings]) -> set[str]:
    """The environment variable of each setting of ``settings_class``."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    return {(prefix + name).upper() for name in settings_class.model_fields}


def unknown_variables(own: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """The ``HELPLINE_*`` names of ``environ`` that neither ``own`` nor any Helpline program or
    tool knows."""
    known = set(own) | KNOWN_VARIABLES | TOOL_VARIABLES
    return sorted(
        name
        for name in environ
        if name.upper().startswith("HELPLINE_")
        and name.upper() not in known
        and not name.upper().startswith(TOOL_PREFIXES)
    )


def refuse_unknown_variables(
    program: str, settings_class: type[BaseSettings], environ: Mapping[str, str] | None = None
) -> None:
    """Raise :class:`UnknownVariable` naming each unknown ``HELPLINE_*`` variable."""
    own = variable_names(settings_class)
    unknown = unknown_variables(own, os.environ if environ is None else environ)
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), sorted(own), n=1)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    raise UnknownVariable(
        f"{program}: unknown setting {', '.join(hints)}: no setting of "
        "this program has that name (see docs/configuration.md)"
    )


class ServiceSettings(KafkaClientSettings):
    """Read from ``HELPLINE_*`` environment variables; invalid values fail at start."""

    model_config = SettingsConfigDict(env_prefix="HELPLINE_", extra="ignore")

    data_dir: Path = Path(".helpline")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: a SQLite file per service under data_dir",
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Proxies whose X-Forwarded-For/-Proto the server trusts (comma-separated"
        " addresses or networks, * for any; uvicorn's FORWARDED_ALLOW_IPS also sets it); none:"
        " the headers are not read",
    )
    http_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body of a route that sets no limit of its own (413 above)",
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply pending database migrations before serving"
    )
    identity_url: str = Field(
        default="http://127.0.0.1:8084",
        description="Base URL of the identity service (JWKS, API-key introspection, revocations)",
    )
    identity_issuer: str = Field(
        default="http://127.0.0.1:8084", description="`iss` every accepted access token carries"
    )
    identity_audience: str = Field(
        default="helpline", description="`aud` every accepted access token carries"
    )
    topic_prefix: str = Field(
        default="",
        pattern=r"^[a-zA-Z0-9._-]*$",
        description="Prefix of every topic name (separates environments or test runs on a cluster)",
    )
    relay_enabled: bool = Field(
        default=True, description="Publish the outbox (turned off only to inject faults in tests)"
    )
    relay_poll_interval: float = Field(default=0.5, gt=0)
    consumer_batch_size: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description=(
            "Most records a consumer takes from Kafka at once (a batch is applied in one "
            "transaction; offsets are committed in the background, at most every 0.25 s)"
        ),
    )
    consumer_fetch_max_wait_ms: int = Field(
        default=FETCH_MAX_WAIT_MS,
        ge=1,
        le=10_000,
        description="How long the broker holds a consumer's fetch that finds nothing new: "
        "shorter costs idle CPU (of the services and Kafka), longer costs latency",
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    environment: str = Field(
        default="",
        max_length=64,
        pattern=r"^[a-zA-Z0-9._-]*$",
        description="deployment.environment.name of traces (production, staging...); "
        "OTEL_RESOURCE_ATTRIBUTES overrides it",
    )
    shutdown_timeout: float = Field(default=20.0, gt=0)

    def resolved_database_url(self, service: str) -> str:
        """The configured database URL, or the embedded SQLite file of ``service``."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"
