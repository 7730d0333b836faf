"""The one place identity is wired: settings, runtime, authentication, purge loop and routes."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import APIRouter, FastAPI

from helpline_identity.adapters.oidc import OidcClient
from helpline_identity.adapters.orm import metadata
from helpline_identity.config import IdentitySettings
from helpline_identity.domain.model import LoginThrottle
from helpline_identity.entrypoints import http
from helpline_identity.entrypoints.auth import Authenticator
from helpline_identity.service_layer import audit, keys
from helpline_identity.service_layer.context import UnitOfWorkFactory
from helpline_identity.service_layer.sessions import TokenPolicy
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork
from helpline_shared import topics
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.service import ServiceRuntime, periodic_loop

NAME = "identity"
MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: IdentitySettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """Build identity's app and runtime (nothing connects until the app starts)."""
    settings = settings or IdentitySettings()
    runtime = ServiceRuntime(name=NAME, settings=settings, metadata=metadata)

    def unit_of_work() -> IdentityUnitOfWork:
        return runtime.unit_of_work(IdentityUnitOfWork)

    retention = timedelta(days=settings.audit_retention_days)

    async def purge(_stopping: asyncio.Event) -> None:
        now = utcnow()
        await audit.purge(unit_of_work(), now - retention)
        await keys.purge_retired_keys(unit_of_work(), now)

    runtime.add_loop(periodic_loop("identity-purge", settings.purge_interval, purge))

    runtime.consume([topics.AUDIT], audit.handler_table(), unit_of_work)
    # Identity's use cases audit their writes, denials and refused credentials themselves.
    app = runtime.http_app("Helpline identity", [api(settings, unit_of_work)], audit=False)
    http.install_error_handler(app, unit_of_work)
    return app, runtime


def api(
    settings: IdentitySettings,
    unit_of_work: UnitOfWorkFactory,
    clock: Callable[[], datetime] = utcnow,
) -> APIRouter:
    """Identity's routes on ``unit_of_work``, its time from ``clock``."""
    policy = TokenPolicy(
        issuer=settings.issuer,
        audience=settings.audience,
        access_lifetime=timedelta(seconds=settings.access_token_seconds),
        refresh_lifetime=timedelta(seconds=settings.refresh_token_seconds),
        throttle=LoginThrottle(
            settings.login_max_failures, timedelta(seconds=settings.login_window_seconds)
        ),
    )
    operator = settings.operator_key_sha256
    authenticator = Authenticator(
        unit_of_work,
        settings.issuer,
        settings.audience,
        operator.get_secret_value().lower() if operator else None,
        clock,
    )
    oidc = {name: OidcClient(name, provider) for name, provider in settings.oidc_providers.items()}
    return http.router(
        unit_of_work,
        authenticator,
        policy,
        timedelta(seconds=settings.signing_key_publish_lead),
        oidc,
        http.OidcReturns(
            frozenset(settings.oidc_return_urls), timedelta(seconds=settings.oidc_code_seconds)
        ),
    )
