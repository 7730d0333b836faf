"""schemathesis over every operation of every service's OpenAPI, in-process on SQLite.

With valid credentials of a tenant's admin (an API key, or an access token for the four ticket
services): no 5xx, every 4xx is problem+json with its members, and documented responses match
their schema; also when strings and numbers are replaced by hostile ones (control, NUL and bidi
characters, huge numbers, dates without zone or past the end of time). Without a credential or
with a bad one (garbage, expired, foreign, tampered, revoked, of a suspended tenant or a
deactivated user, scopeless, a service key naming no tenant): no secured operation serves the
caller, and each refusal is problem+json too. Identity's API is fuzzed like the others'.
"""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_apps import IDENTITY, KNOWN, SEEDS, SERVICES, TENANT, ServiceApp, bearer, build
from api_apps import field as answer_field
from fuzzing import fuzz_settings, problem_errors
from hypothesis import given
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import response_schema_conformance

from helpline_shared.runtime.testing import StandInIdentity

EXAMPLES_PER_OPERATION = 10
HOSTILE_EXAMPLES_PER_OPERATION = 10
BAD_AUTH_EXAMPLES_PER_OPERATION = 1
NOT_FUZZED = {("GET", "/readyz")}
"""Without the lifespan Kafka is never connected, so readiness is known (tested below)."""

Operation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Any]


def tampered(token: str) -> str:
    """``token`` claiming another tenant, its signature left as it was."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = json.dumps({**claims, "tenant": "other"}).encode()
    return f"{header}.{base64.urlsafe_b64encode(forged).rstrip(b'=').decode()}.{signature}"


FOREIGN = StandInIdentity()
"""Another identity: its tokens are signed with a key no service knows."""
IDENTITY.suspend("fuzz-suspended")
IDENTITY.deactivate(TENANT, "fuzz-deactivated")
BAD_CREDENTIALS: list[tuple[str, dict[str, str]]] = [
    ("no header", {}),
    ("not a credential", bearer("not-a-token")),
    ("other scheme", {"Authorization": "Basic YWNtZTpodW50ZXIy"}),
    ("empty bearer", {"Authorization": "Bearer "}),
    ("non-ASCII byte", {"Authorization": "Bearer hlk_\u00e9\u00ff.\u00fe"}),
    ("unknown API key", bearer("hlk_" + "x" * 32)),
    ("signed by another identity", bearer(FOREIGN.person(TENANT, "admin"))),
    ("expired", bearer(IDENTITY.person(TENANT, "admin", lifetime=-60))),
    ("tampered claims", bearer(tampered(IDENTITY.person(TENANT, "admin")))),
    ("suspended tenant", bearer(IDENTITY.api_key("fuzz-suspended"))),
    ("deactivated user", bearer(IDENTITY.person(TENANT, "admin", "fuzz-deactivated"))),
    ("service key naming no tenant", bearer(IDENTITY.service_key("escalation"))),
    ("no scopes", bearer(IDENTITY.api_key(TENANT, ()))),
]
"""Refused by every service (identity too: the stand-in's credentials are foreign to it)."""


HOSTILE_TEXT = [
    "\x00",
    "ann\x00@acme.test",
    "\u202eexe.pdf",
    "\u2066x\u2069",
    "a\r\nX-Injected: 1",
    "\x1b[31mred",
    "\x85\x9f",
    "\ufeff",
    "\uffff",
    "\U0001f600" * 50,
    "%00",
    "../..",
    "é" * 5000,
    "2026-01-01T00:00:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "+275760-09-13T00:00:00Z",
    "1e400",
    "NaN",
    "-0",
    "\\",
    '"',
    "{{ 7*7 }}",
    "{% for %}",
]
"""Control, NUL, bidi, surrogate and oversized text, dates without zone or past the end of time."""
HOSTILE_NUMBERS = [
    2**63,
    -(2**63) - 1,
    2**64,
    10**12,
    10**18,
    10**30,
    -1,
    0,
    2**31,
    1e308,
    -1e308,
    5e-324,
]
"""Numbers around every integer width, and the edges of a double."""


def hostile(value: Any, data: st.DataObject) -> Any:
    """``value`` with some of its leaves (strings, numbers) replaced by hostile ones."""
    if isinstance(value, dict):
        return {key: hostile(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [hostile(item, data) for item in value]
    if isinstance(value, bool) or value is None or not data.draw(st.booleans()):
        return value
    if isinstance(value, str):
        return data.draw(st.sampled_from(HOSTILE_TEXT))
    if isinstance(value, int | float):
        return data.draw(st.sampled_from(HOSTILE_NUMBERS))
    return value


def hostile_case(case: AnyCase, data: st.DataObject) -> AnyCase:
    """``case`` with hostile strings and numbers in its body, query and path parameters."""
    if case.body is not None and not isinstance(case.body, bytes | str):
        case.body = hostile(case.body, data)
    for name in ("query", "path_parameters"):
        values = getattr(case, name)
        if values:
            setattr(case, name, hostile(dict(values), data))
    return case


def problem_details(ctx: CheckContext, response: Response, case: AnyCase) -> bool | None:
    """Every 4xx is ``application/problem+json`` with type, title and a matching status."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = ";".join(response.headers.get("content-type", [""]))
    try:
        body: object = json.loads(response.content)
    except ValueError:
        body = response.content[:200]
    errors = problem_errors(response.status_code, content_type, body)
    assert not errors, f"{response.status_code} is not problem details: {'; '.join(errors)}"
    return True


def refused(ctx: CheckContext, response: Response, case: AnyCase) -> bool | None:
    """A secured operation never answers a caller without a valid token with 2xx or 3xx."""
    assert response.status_code >= 400, (
        f"answered {response.status_code} to a caller without a valid token"
    )
    if response.status_code == 401:
        assert "www-authenticate" in response.headers, "401 without WWW-Authenticate"
    return True


@dataclass
class Api:
    """A service's OpenAPI as schemathesis loads it from the app, and ids of seeded records."""

    schema: BaseSchema
    built: ServiceApp
    known: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str:
        """The service's name."""
        return self.built.service


@pytest.fixture(params=SERVICES)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Api:
    """The service's app on a fresh database with a few records made through its own API."""
    service = request.param
    built = build(service, tmp_path)
    schema = schemathesis.openapi.from_asgi("/openapi.json", built.asgi())
    known = dict(KNOWN.get(service, {}))
    for seed in SEEDS[service]:
        case = schema[seed.path][seed.method].Case(
            path_parameters={name: known[name] for name in _parameters(seed.path)},
            body=seed.body,
            headers=built.credentials(seed.path),
        )
        response = case.call()
        assert response.status_code < 300, (seed, response.status_code, response.text)
        known.update(
            {name: answer_field(response.json(), dotted) for name, dotted in seed.captures.items()}
        )
    # schemathesis ends the app's lifespan (closing its database) after each test.
    return Api(schema, built, known)


def _parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def operations(schema: BaseSchema) -> Iterator[Operation]:
    """Every operation of ``schema`` except the ones not fuzzed (an unreadable one fails)."""
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in NOT_FUZZED:
            yield operation


def any_case(operation: Operation, known: dict[str, str]) -> st.SearchStrategy[AnyCase]:
    """Valid and invalid requests of ``operation``; valid ones also on records that exist."""
    generated = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )
    existing = {name: known[name] for name in _parameters(operation.path) if name in known}
    if not existing:
        return generated
    return generated | operation.as_strategy(GenerationMode.POSITIVE, path_parameters=existing)


def authorized(case: AnyCase, credentials: dict[str, str]) -> AnyCase:
    """``case`` with ``credentials`` instead of any Authorization header it generated itself.

    Set on the case (not per call) so that schemathesis sees the header as part of the case and
    does not drop it for a negative case that happened to mutate the security scheme.
    """
    headers = {
        name: value
        for name, value in (case.headers or {}).items()
        if name.lower() != "authorization"
    }
    case.headers = CaseInsensitiveDict({**headers, **credentials})
    return case


def fuzz_each(schema: BaseSchema, run: Any) -> None:
    """Run ``run(operation)`` for every operation; fail once, listing every failing one."""
    failures: list[str] = []
    for operation in operations(schema):
        try:
            run(operation)
        except (Exception, BaseExceptionGroup) as error:
            failures.append(f"{operation.label}:\n{error}")
    assert not failures, "\n\n".join(failures)


def test_every_operation_with_a_valid_token_answers_without_5xx_and_errors_as_problems(
    api: Api,
) -> None:
    def run(operation: Operation) -> None:
        @given(case=any_case(operation, api.known), person=st.booleans())
        @fuzz_settings(EXAMPLES_PER_OPERATION)
        def example(case: AnyCase, person: bool) -> None:
            authorized(case, api.built.credentials(operation.path, person)).call_and_validate(
                checks=[not_a_server_error, problem_details, response_schema_conformance]
            )

        example()

    fuzz_each(api.schema, run)


def test_hostile_strings_and_numbers_answer_4xx_problems_never_5xx(api: Api) -> None:
    def run(operation: Operation) -> None:
        @given(case=any_case(operation, api.known), data=st.data(), person=st.booleans())
        @fuzz_settings(HOSTILE_EXAMPLES_PER_OPERATION)
        def example(case: AnyCase, data: st.DataObject, person: bool) -> None:
            credentials = api.built.credentials(operation.path, person)
            authorized(hostile_case(case, data), credentials).call_and_validate(
                checks=[not_a_server_error, problem_details]
            )

        example()

    fuzz_each(api.schema, run)


def test_no_secured_operation_serves_a_caller_without_a_valid_credential(api: Api) -> None:
    bad = [*BAD_CREDENTIALS, ("revoked key", bearer(api.built.revoked_key))]

    def run(operation: Operation) -> None:
        if not api.built.secured(operation.method, operation.path, operation.definition.raw):
            return

        @given(case=any_case(operation, api.known), credentials=st.sampled_from(bad))
        @fuzz_settings(BAD_AUTH_EXAMPLES_PER_OPERATION * len(bad))
        def example(case: AnyCase, credentials: tuple[str, dict[str, str]]) -> None:
            _name, headers = credentials
            authorized(case, headers).call_and_validate(
                checks=[not_a_server_error, problem_details, refused]
            )

        example()

    fuzz_each(api.schema, run)


def test_readiness_without_a_broker_names_kafka(api: Api) -> None:
    operation = api.schema["/readyz"]["GET"]
    response = operation.Case().call()
    assert response.json()["checks"]["database"] == "ok"
    if api.service == "intake":
        # Intake's outbox keeps accepting tickets: Kafka away only degrades it.
        assert response.status_code == 200
        assert response.json()["checks"]["kafka"].startswith("degraded: ")
        return
    assert response.status_code == 503
    assert not problem_errors(503, response.headers["content-type"][0], response.json())
    assert response.json()["checks"]["kafka"] != "ok"


def test_a_rules_version_beyond_a_database_integer_is_a_422_problem(tmp_path: Path) -> None:
    # Found: 2**63 reached SQLite ("Python int too large") and failed the request with a 500.
    built = build("routing", tmp_path)
    schema = schemathesis.openapi.from_asgi("/openapi.json", built.asgi())
    path = "/v1/routing/rules/versions/{version}"
    response = (
        schema[path]["GET"]
        .Case(path_parameters={"version": 2**63}, headers=built.credentials(path))
        .call()
    )
    assert response.status_code == 422
    assert not problem_errors(422, response.headers["content-type"][0], response.json())
    assert response.json()["errors"][0]["field"] == "version"
