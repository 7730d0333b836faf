"""Every operation of every service, called with every role and every scope, checks its cell.

Each service's real app (``bootstrap``) runs in-process on a migrated SQLite file, its lifespan
not started (no Kafka), as in the services' HTTP unit tests. The four engine services trust the
stand-in identity (``helpline_shared.runtime.testing``); identity is its own real app, with its
own operator key, people signed in with passwords and API keys it issued.

For each operation of the app's OpenAPI document: it states a permission (``x-helpline-permission``)
or is one of ``PUBLIC_OPERATIONS``; then each caller (a person of each role, an API key of each
scope alone, and identity's operator) calls it with path parameters that name nothing. The call
answers 403 exactly when the matrix denies the caller that permission: the permission is checked
before anything is looked up, so an allowed call answers 404, 422 or 2xx, never 401 or 403.
A permission with a rule ("agents: only their own") may also answer 403 to a holder the rule
narrows, but only with a problem that does not say the permission is lacking.
"""

import asyncio
import hashlib
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from helpline_shared.permissions import PERMISSIONS, PUBLIC_OPERATIONS, ROLES, SCOPES, allows
from helpline_shared.runtime.auth import PERMISSION_EXTENSION, unlisted_operations
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import stand_in_identity

TENANT = "acme"
OPERATOR_KEY = "operator-key-of-the-permission-matrix-test"
PASSWORD = "correct horse battery staple"
NOWHERE = "0f0f0f0f-0000-4000-8000-00000000dead"
"""Every path parameter: a well-formed id that names nothing."""
METHODS = ("get", "post", "put", "patch", "delete")
SERVICES = ("intake", "routing", "escalation", "notify", "identity")


@dataclass(frozen=True)
class Caller:
    """One column of the matrix: a person of a role, a key of one scope, or the operator."""

    name: str
    bearer: str
    role: str | None = None
    scope: str | None = None
    operator: bool = False

    def allowed(self, permission: str) -> bool:
        """What the matrix says for this caller and ``permission``."""
        return allows(
            role=self.role,
            permission=permission,
            operator=self.operator,
            scopes=frozenset({self.scope}) if self.scope else frozenset(),
        )


@dataclass
class Service:
    """One service's app and runtime, and the callers whose credentials it accepts."""

    app: FastAPI
    runtime: ServiceRuntime
    callers: list[Caller]


def _settings(service: str, directory: Path, **values: Any) -> Any:
    config = importlib.import_module(f"helpline_{service}.config")
    cls = next(
        value
        for name, value in vars(config).items()
        if name.endswith("Settings")
        and name != "ServiceSettings"
        and isinstance(value, type)
        and value.__module__ == config.__name__
    )
    return cls(data_dir=directory, **values)


def _engine_service(service: str, directory: Path) -> tuple[FastAPI, ServiceRuntime]:
    identity = stand_in_identity()
    bootstrap = importlib.import_module(f"helpline_{service}.bootstrap")
    extra: dict[str, Any] = {}
    if service == "intake":
        extra = {"smtp_server_enabled": False, "domain_verification": "trust"}
    settings = _settings(service, directory, **identity.settings(), **extra)
    upgrade(bootstrap.MIGRATIONS, settings.resolved_database_url(service))
    if service == "intake":
        from helpline_intake.adapters.attachments import MemoryAttachmentStore

        return bootstrap.bootstrap(settings, MemoryAttachmentStore())  # type: ignore[no-any-return]
    if service == "notify":
        from helpline_notify.adapters.fakes import FakeMailer

        return bootstrap.bootstrap(settings, mailer=FakeMailer())  # type: ignore[no-any-return]
    return bootstrap.bootstrap(settings)  # type: ignore[no-any-return]


def _stand_in_callers() -> list[Caller]:
    identity = stand_in_identity()
    return [
        *(
            Caller(role, identity.person(TENANT, role, user_id=f"user-{role}"), role=role)
            for role in ROLES
        ),
        *(
            Caller(f"key {scope}", identity.api_key(TENANT, [scope]), scope=scope)
            for scope in SCOPES
        ),
    ]


def _client(app: FastAPI, bearer: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc", headers=headers
    )


async def _identity_callers(app: FastAPI) -> list[Caller]:
    """Identity's own credentials: tenant ``acme``, a person of each role, a key per scope."""
    async with _client(app, OPERATOR_KEY) as operator:
        created = await operator.post(
            "/v1/tenants",
            json={
                "tenant_id": TENANT,
                "name": "Acme",
                "admin": {"name": "Root", "email": "admin@acme.test", "password": PASSWORD},
            },
        )
        assert created.status_code == 201, created.text
    async with _client(app) as anyone:

        async def login(email: str) -> str:
            answer = await anyone.post(
                "/v1/login", json={"tenant": TENANT, "email": email, "password": PASSWORD}
            )
            assert answer.status_code == 200, answer.text
            return str(answer.json()["access_token"])

        tokens = {"admin": await login("admin@acme.test")}
        async with _client(app, tokens["admin"]) as admin:
            for role in ("lead", "agent"):
                made = await admin.post(
                    "/v1/users",
                    json={
                        "name": role,
                        "email": f"{role}@acme.test",
                        "role": role,
                        "password": PASSWORD,
                    },
                )
                assert made.status_code == 201, made.text
                tokens[role] = await login(f"{role}@acme.test")
            keys = {}
            for scope in SCOPES:
                made = await admin.post("/v1/api-keys", json={"name": scope, "scopes": [scope]})
                assert made.status_code == 201, made.text
                keys[scope] = str(made.json()["key"])
    return [
        *(Caller(role, tokens[role], role=role) for role in ROLES),
        *(Caller(f"key {scope}", keys[scope], scope=scope) for scope in SCOPES),
        Caller("operator", OPERATOR_KEY, operator=True),
    ]


@pytest.fixture(params=SERVICES)
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    name: str = request.param
    if name == "identity":
        from helpline_identity.bootstrap import MIGRATIONS, bootstrap

        settings = _settings(
            "identity",
            tmp_path,
            issuer="http://identity.test",
            signing_key_publish_lead=0,
            operator_key_sha256=SecretStr(hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()),
        )
        await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url(name))
        app, runtime = bootstrap(settings)
        made = Service(app, runtime, await _identity_callers(app))
    else:
        app, runtime = await asyncio.to_thread(_engine_service, name, tmp_path)
        made = Service(app, runtime, _stand_in_callers())
    yield made
    await made.runtime.engine.dispose()


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


async def test_every_operation_requires_a_permission_or_is_listed_public(service: Service) -> None:
    undeclared = [
        f"{method} {path}"
        for method, path, operation in _operations(service.app)
        if PERMISSION_EXTENSION not in operation and (method, path) not in PUBLIC_OPERATIONS
    ]
    assert undeclared == [], "operations with no permission (use require(...)) nor listed public"
    assert unlisted_operations(service.app) == []
    contradicting = [
        f"{method} {path}"
        for method, path, operation in _operations(service.app)
        if PERMISSION_EXTENSION in operation and (method, path) in PUBLIC_OPERATIONS
    ]
    assert contradicting == [], "listed public, yet requiring a permission"


async def test_every_operation_answers_each_caller_as_the_matrix_says(service: Service) -> None:
    wrong: list[str] = []
    for method, path, operation in _operations(service.app):
        permission = operation.get(PERMISSION_EXTENSION)
        if permission is None:
            continue  # public, or reported by the test above
        url = _concrete(path)
        for caller in service.callers:
            async with _client(service.app, caller.bearer) as client:
                answer = await client.request(method, url)
            verdict = _verdict(caller, permission, answer)
            if verdict:
                wrong.append(f"{method} {path} [{permission}] as {caller.name}: {verdict}")
    assert wrong == [], "\n".join(wrong)


def _concrete(path: str) -> str:
    parts = path.split("/")
    return "/".join(
        NOWHERE if part.startswith("{") and part.endswith("}") else part for part in parts
    )


def _verdict(caller: Caller, permission: str, answer: httpx.Response) -> str:
    """What is wrong with ``answer`` for this cell, or "" when it is what the matrix says."""
    status = answer.status_code
    if not caller.allowed(permission):
        return "" if status == 403 else f"answered {status}, the matrix denies it (403)"
    if status == 401:
        return f"answered 401: the credential was refused ({answer.text[:120]})"
    if status == 403 and not (PERMISSIONS[permission].rule and _narrowed(answer)):
        return f"answered 403, the matrix allows it ({answer.text[:120]})"
    return ""


def _narrowed(answer: httpx.Response) -> bool:
    """A 403 a route's own rule gave (not the permission check's)."""
    try:
        text = str(answer.json().get("detail", ""))
    except ValueError:
        return False
    return "permission" not in text and "not allowed for this credential" not in text
