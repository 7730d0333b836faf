"""Commands over the services' HTTP APIs, one Typer group per resource."""

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from helpline_cli.settings import CliSettings


class ApiError(Exception):
    """The service answered with an error (its problem+json detail, in one line)."""


def _settings() -> CliSettings:
    return CliSettings()


def request(service: str, method: str, path: str, body: Any = None) -> Any:
    """Call ``service``'s API with the operator's token; return the JSON answer."""
    settings = _settings()
    if settings.token is None:
        raise ApiError("no token: set HELPLINE_TOKEN (helpline tokens issue TENANT)")
    headers = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
    if method == "POST":
        headers["Idempotency-Key"] = str(uuid.uuid4())
    url = settings.service_url(service) + path
    try:
        response = httpx.request(method, url, json=body, headers=headers,
                                 timeout=settings.timeout)
    except httpx.HTTPError as error:
        raise ApiError(f"{service} at {url} does not answer ({type(error).__name__})") from error
    if response.status_code >= 400:
        try:
            problem = response.json()
            detail = problem.get("detail") or problem.get("title")
        except ValueError:
            detail = response.text[:200]
        raise ApiError(f"{service} refused {method} {path}: {response.status_code} {detail}")
    return response.json() if response.content else None


def _body(data: str | None, file: Path | None) -> Any:
    if file is not None:
        return json.loads(file.read_text())
    if data is not None:
        return json.loads(data)
    raise typer.BadParameter("give the new object as --data JSON or --file PATH")


def _echo(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


def _run(service: str, method: str, path: str, body: Any = None) -> None:
    try:
        _echo(request(service, method, path, body))
    except ApiError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error


Data = Annotated[str | None, typer.Option("--data", help="The object as JSON")]
File = Annotated[Path | None, typer.Option("--file", help="A file holding the object as JSON")]


def resource_group(service: str, path: str, noun: str, *, deletable: bool = True,
                   updatable: bool = False, creatable: bool = True,
                   actions: tuple[str, ...] = ()) -> typer.Typer:
    """A command group (list, show, create, delete, extra POST actions) for one resource."""
    group = typer.Typer(help=f"{noun.capitalize()} ({service} service, {path})",
                        no_args_is_help=True)

    @group.command("list")
    def list_() -> None:
        """List them."""
        _run(service, "GET", path)

    @group.command("show")
    def show(identifier: str) -> None:
        """Show one."""
        _run(service, "GET", f"{path}/{identifier}")

    if creatable:
        @group.command("create")
        def create(data: Data = None, file: File = None) -> None:
            """Create one from JSON."""
            _run(service, "POST", path, _body(data, file))

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
    group = typer.Typer(help=f"{noun.capitalize()} ({service} service, {path})",
                        no_args_is_help=True)

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
    group = typer.Typer(help=f"{noun.capitalize()} ({service} service, {path})",
                        no_args_is_help=True)

    @group.command("list")
    def list_() -> None:
        """List them."""
        _run(service, "GET", path)

    @group.command("set")
    def set_(key: str, data: Data = None, file: File = None) -> None:
        """Create or replace the one named KEY with JSON."""
        _run(service, "PUT", f"{path}/{key}", _body(data, file))

    return group


def _add_action(group: typer.Typer, service: str, path: str, action: str) -> None:
    def command(identifier: str) -> None:
        _run(service, "POST", f"{path}/{identifier}/{action}")

    command.__doc__ = f"POST {path}/ID/{action}."
    group.command(action)(command)
