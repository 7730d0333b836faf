"""Commands over the services' HTTP APIs, one Typer group per resource."""

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from helpline_cli.filters import parse_since
from helpline_cli.output import Format, Output, echo_json, emit_listing
from helpline_cli.settings import CliSettings

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
"""Answers that mean "not done, try again": the CLI retries them (and unanswered requests)."""
ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
"""The wait before the second attempt; it doubles for each attempt after that."""


class ApiError(Exception):
    """The service answered with an error (its problem+json detail, in one line)."""


def _settings() -> CliSettings:
    return CliSettings()


def new_idempotency_key() -> str:
    """A fresh key for one logical operation (every retry of that operation reuses it)."""
    return str(uuid.uuid4())


def _credential(settings: CliSettings, operator: bool) -> str:
    if operator:
        if settings.operator_key is None:
            raise ApiError(
                "no operator key: set HELPLINE_OPERATOR_KEY (make run keeps it in "
                ".helpline/operator-key)"
            )
        return settings.operator_key.get_secret_value()
    if settings.token is None:
        raise ApiError(
            "no token: set HELPLINE_TOKEN to an API key or access token (make run "
            "keeps an admin API key in .helpline/dev-token)"
        )
    return settings.token.get_secret_value()


def _problem_detail(response: httpx.Response) -> str:
    """The problem's detail (or title), with each invalid field's message, on one line."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(problem, dict):
        return response.text[:200]
    detail = str(problem.get("detail") or problem.get("title") or "")
    errors = problem.get("errors")
    if isinstance(errors, list) and errors:
        detail += (
            " ("
            + "; ".join(
                f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)
            )
            + ")"
        )
    return detail


def request(
    service: str,
    method: str,
    path: str,
    body: Any = None,
    idempotency_key: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    *,
    operator: bool = False,
) -> Any:
    """Call ``service``'s API with HELPLINE_TOKEN (or HELPLINE_OPERATOR_KEY with ``operator``);
    return the JSON answer."""
    # A POST carries one Idempotency-Key (given, or new) and every retry resends that key, so
    # the service can tell a retry from a second operation.
    settings = _settings()
    headers = {"Authorization": f"Bearer {_credential(settings, operator)}"}
    if method == "POST":
        headers["Idempotency-Key"] = idempotency_key or new_idempotency_key()
    url = settings.service_url(service) + path
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = httpx.request(
                method, url, json=body, headers=headers, timeout=settings.timeout
            )
        except httpx.HTTPError as error:
            if attempt < ATTEMPTS:
                sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
                continue
            raise ApiError(
                f"{service} at {url} does not answer ({type(error).__name__}, {ATTEMPTS} attempts)"
            ) from error
        if response.status_code in RETRIED_STATUSES and attempt < ATTEMPTS:
            sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            continue
        break
    if response.status_code >= 400:
        raise ApiError(
            f"{service} refused {method} {path}: {response.status_code} {_problem_detail(response)}"
        )
    return response.json() if response.content else None


def _body(data: str | None, file: Path | None) -> Any:
    if file is not None:
        return json.loads(file.read_text())
    if data is not None:
        return json.loads(data)
    raise typer.BadParameter("give the new object as --data JSON or --file PATH")


def call(
    service: str,
    method: str,
    path: str,
    body: Any = None,
    idempotency_key: str | None = None,
    *,
    operator: bool = False,
) -> Any:
    """``request``, its error printed in red and exit status 1."""
    try:
        return request(service, method, path, body, idempotency_key, operator=operator)
    except ApiError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error


def _run(
    service: str, method: str, path: str, body: Any = None, idempotency_key: str | None = None
) -> None:
    echo_json(call(service, method, path, body, idempotency_key))


Data = Annotated[str | None, typer.Option("--data", help="The object as JSON")]
File = Annotated[Path | None, typer.Option("--file", help="A file holding the object as JSON")]
IdempotencyKey = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="Send this Idempotency-Key (default: a new one per command, "
        "the same for each of its retries)",
    ),
]


def resource_group(
    service: str,
    path: str,
    noun: str,
    *,
    deletable: bool = True,
    updatable: bool = False,
    creatable: bool = True,
    actions: tuple[str, ...] = (),
) -> typer.Typer:
    """A command group (list, show, create, delete, extra POST actions) for one resource."""
    group = typer.Typer(
        help=f"{noun.capitalize()} ({service} service, {path})", no_args_is_help=True
    )

    @group.command("list")
    def list_(output: Output = Format.table) -> None:
        """List them."""
        emit_listing(call(service, "GET", path), output)

    @group.command("show")
    def show(identifier: str) -> None:
        """Show one."""
        _run(service, "GET", f"{path}/{identifier}")

    if creatable:

        @group.command("create")
        def create(
            data: Data = None, file: File = None, idempotency_key: IdempotencyKey = None
        ) -> None:
            """Create one from JSON."""
            _run(service, "POST", path, _body(data, file), idempotency_key)

    if updatable:

        @group.command("update")
        def update(identifier: str, data: Data = None, file: File = None) -> None:
            """Change some fields of one (PATCH with JSON)."""
            _run(service, "PATCH", f"{path}/{identifier}", _body(data, file))

    if deletable:

        @group.command("delete")
        def delete(identifier: str) -> None:
            """Delete one."""
            _run(service, "DELETE", f"{path}/{identifier}")

    for action in actions:
        _add_action(group, service, path, action)
    return group


def document_group(service: str, path: str, noun: str) -> typer.Typer:
    """A command group for one document per tenant (``show`` it, ``set`` it with PUT)."""
    group = typer.Typer(
        help=f"{noun.capitalize()} ({service} service, {path})", no_args_is_help=True
    )

    @group.command("show")
    def show() -> None:
        """Show the current one."""
        _run(service, "GET", path)

    @group.command("set")
    def set_(data: Data = None, file: File = None) -> None:
        """Replace it with JSON."""
        _run(service, "PUT", path, _body(data, file))

    return group


def keyed_group(service: str, path: str, noun: str) -> typer.Typer:
    """A command group for objects written by key with PUT (``list``, ``set KEY``)."""
    group = typer.Typer(
        help=f"{noun.capitalize()} ({service} service, {path})", no_args_is_help=True
    )

    @group.command("list")
    def list_(output: Output = Format.table) -> None:
        """List them."""
        emit_listing(call(service, "GET", path), output)

    @group.command("set")
    def set_(key: str, data: Data = None, file: File = None) -> None:
        """Create or replace the one named KEY with JSON."""
        _run(service, "PUT", f"{path}/{key}", _body(data, file))

    return group


def _add_action(group: typer.Typer, service: str, path: str, action: str) -> None:
    def command(identifier: str, idempotency_key: IdempotencyKey = None) -> None:
        _run(service, "POST", f"{path}/{identifier}/{action}", None, idempotency_key)

    command.__doc__ = f"POST {path}/ID/{action}."
    group.command(action)(command)


Since = Annotated[
    str,
    typer.Option(
        "--since",
        help="Failed messages created since: an ISO 8601 time with its offset, or an "
        "age such as 30m, 24h, 7d",
    ),
]


def add_webhook_replay(group: typer.Typer) -> None:
    """``webhooks replay ID --since WHEN``: send the endpoint's failed messages again."""

    @group.command("replay")
    def replay(identifier: str, since: Since, idempotency_key: IdempotencyKey = None) -> None:
        """Send again every failed message of endpoint ID created since --since."""
        instant = parse_since(since, datetime.now(UTC))
        _run(
            "notify",
            "POST",
            f"/v1/webhook-endpoints/{identifier}/replay",
            {"since": instant.isoformat()},
            idempotency_key,
        )
