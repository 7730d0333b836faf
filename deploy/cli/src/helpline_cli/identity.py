"""Tenants, users, API keys and service keys: commands over identity's HTTP API.

Tenants and service keys are the deployment operator's (``HELPLINE_OPERATOR_KEY``); users and
API keys belong to the tenant of ``HELPLINE_TOKEN`` (an admin's API key or access token).
"""

import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import typer

from helpline_cli.http_api import call
from helpline_cli.output import Format, Output, echo_json, emit_listing, table
from helpline_shared.permissions import ROLES, SCOPES

tenants = typer.Typer(
    help="Tenants (identity service; needs HELPLINE_OPERATOR_KEY)", no_args_is_help=True
)
users = typer.Typer(
    help="People of the tenant of HELPLINE_TOKEN (identity service)", no_args_is_help=True
)
api_keys = typer.Typer(
    help="API keys of the tenant of HELPLINE_TOKEN (identity service)", no_args_is_help=True
)
service_keys = typer.Typer(
    help="Services' own keys (identity service; needs HELPLINE_OPERATOR_KEY)", no_args_is_help=True
)


def _show(answer: Mapping[str, Any], output: Format) -> None:
    """One object: JSON, or one ``field: value`` line each."""
    if output is Format.json:
        echo_json(answer)
        return
    for name, value in answer.items():
        typer.echo(f"{name}: {', '.join(map(str, value)) if isinstance(value, list) else value}")


def _password(from_stdin: bool) -> str | None:
    """The password piped on standard input (never on the command line: ps shows that)."""
    if not from_stdin:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise typer.BadParameter("--password-stdin: standard input holds no password")
    return password


def _confirm(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        typer.secho(
            f"refusing to {what} without --yes (not at a terminal)", err=True, fg=typer.colors.RED
        )
        raise typer.Exit(1)
    typer.confirm(f"{what}?", abort=True)


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input"
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking")]
Teams = Annotated[list[str] | None, typer.Option("--team", help="A team id (repeatable)")]


@tenants.command("create")
def create_tenant(
    tenant_id: Annotated[str, typer.Argument(help="Lower-case letters, digits, - and _")],
    name: Annotated[str | None, typer.Option(help="A readable name (default: the id)")] = None,
    admin_email: Annotated[str | None, typer.Option(help="Create its first admin")] = None,
    admin_name: Annotated[str, typer.Option(help="The first admin's name")] = "Admin",
    password_stdin: PasswordStdin = False,
    output: Output = Format.table,
) -> None:
    """Create tenant TENANT_ID, optionally with its first admin."""
    body: dict[str, Any] = {"tenant_id": tenant_id, "name": name or tenant_id}
    password = _password(password_stdin)
    if admin_email is not None:
        body["admin"] = {
            "name": admin_name,
            "email": admin_email,
            **({"password": password} if password else {}),
        }
    elif password is not None:
        raise typer.BadParameter("--password-stdin is the first admin's: give --admin-email")
    _show(call("identity", "POST", "/v1/tenants", body, operator=True), output)


@tenants.command("list")
def list_tenants(output: Output = Format.table) -> None:
    """List every tenant with its state."""
    emit_listing(call("identity", "GET", "/v1/tenants", operator=True), output)


@tenants.command("suspend")
def suspend_tenant(tenant_id: str, output: Output = Format.table) -> None:
    """Suspend a tenant: every service refuses its credentials within seconds."""
    _show(call("identity", "POST", f"/v1/tenants/{tenant_id}/suspend", operator=True), output)


@tenants.command("resume")
def resume_tenant(tenant_id: str, output: Output = Format.table) -> None:
    """Resume a suspended tenant."""
    _show(call("identity", "POST", f"/v1/tenants/{tenant_id}/resume", operator=True), output)


@tenants.command("delete")
def delete_tenant(tenant_id: str, yes: Yes = False) -> None:
    """Delete a tenant's users, teams and keys (its credentials stop working)."""
    _confirm(f"delete tenant {tenant_id}", yes)
    call("identity", "DELETE", f"/v1/tenants/{tenant_id}", operator=True)
    typer.echo(f"deleted tenant {tenant_id}")


@users.command("create")
def create_user(
    email: str,
    name: Annotated[str, typer.Option(help="The person's name")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")] = "agent",
    team: Teams = None,
    password_stdin: PasswordStdin = False,
    output: Output = Format.table,
) -> None:
    """Create a person (with a password when one is piped to --password-stdin)."""
    body: dict[str, Any] = {"name": name, "email": email, "role": role, "teams": team or []}
    password = _password(password_stdin)
    if password is not None:
        body["password"] = password
    _show(call("identity", "POST", "/v1/users", body), output)


@users.command("list")
def list_users(output: Output = Format.table) -> None:
    """List the tenant's people."""
    emit_listing(call("identity", "GET", "/v1/users"), output)


@users.command("update")
def update_user(
    user_id: str,
    name: Annotated[str | None, typer.Option(help="A new name")] = None,
    email: Annotated[str | None, typer.Option(help="A new address")] = None,
    role: Annotated[str | None, typer.Option(help=f"One of {', '.join(ROLES)}")] = None,
    team: Annotated[
        list[str] | None, typer.Option("--team", help="Replace the teams with these (repeatable)")
    ] = None,
    no_teams: Annotated[bool, typer.Option("--no-teams", help="Remove every team")] = False,
    password_stdin: PasswordStdin = False,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Reactivate or deactivate")
    ] = None,
    output: Output = Format.table,
) -> None:
    """Change some fields of a person; the others stay."""
    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("name", name),
            ("email", email),
            ("role", role),
            ("password", _password(password_stdin)),
            ("active", active),
        )
        if value is not None
    }
    if team or no_teams:
        changes["teams"] = [] if no_teams else team
    if not changes:
        raise typer.BadParameter("nothing to change: give at least one option")
    _show(call("identity", "PATCH", f"/v1/users/{user_id}", changes), output)


@users.command("deactivate")
def deactivate_user(user_id: str, output: Output = Format.table) -> None:
    """Deactivate a person: every service refuses their tokens within seconds."""
    _show(call("identity", "PATCH", f"/v1/users/{user_id}", {"active": False}), output)


@api_keys.command("create")
def create_api_key(
    name: str,
    scope: Annotated[
        list[str], typer.Option("--scope", help=f"One of {', '.join(SCOPES)} (repeatable)")
    ],
    expires_at: Annotated[
        datetime | None, typer.Option(help="When the key stops working (ISO 8601; default: never)")
    ] = None,
    user_id: Annotated[str | None, typer.Option(help="The person the key acts for")] = None,
    output: Output = Format.table,
) -> None:
    """Create an API key; its secret is printed this once and stored by identity as a hash."""
    body: dict[str, Any] = {"name": name, "scopes": scope}
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    if user_id is not None:
        body["user_id"] = user_id
    created = call("identity", "POST", "/v1/api-keys", body)
    _show(created, output)
    if output is Format.table:
        typer.secho("keep the key now: identity shows it only this once", err=True)


@api_keys.command("list")
def list_api_keys(output: Output = Format.table) -> None:
    """List the tenant's keys: prefixes, scopes, expiry, last use (never their secret)."""
    answer = call("identity", "GET", "/v1/api-keys")
    if output is Format.json:
        echo_json(answer)
        return
    rows = [{**key, "scopes": " ".join(key["scopes"])} for key in answer]
    if rows:
        typer.echo(
            table(
                rows, ("id", "name", "prefix", "scopes", "expires_at", "last_used_at", "revoked_at")
            )
        )
    typer.echo(f"{len(rows)} key(s)")


@api_keys.command("revoke")
def revoke_api_key(key_id: str) -> None:
    """Revoke a key: every service refuses it within seconds."""
    call("identity", "DELETE", f"/v1/api-keys/{key_id}")
    typer.echo(f"revoked key {key_id}")


@service_keys.command("create")
def create_service_key(
    service: Annotated[str, typer.Argument(help="The service that acts with it, e.g. escalation")],
    scope: Annotated[
        list[str], typer.Option("--scope", help=f"One of {', '.join(SCOPES)} (repeatable)")
    ],
    output: Output = Format.table,
) -> None:
    """Create SERVICE's own key; it acts for the tenant each request names (printed once)."""
    created = call(
        "identity", "POST", "/v1/service-keys", {"service": service, "scopes": scope}, operator=True
    )
    _show(created, output)
    if output is Format.table:
        typer.secho("keep the key now: identity shows it only this once", err=True)


@service_keys.command("list")
def list_service_keys(output: Output = Format.table) -> None:
    """List the service keys: prefixes, services, scopes, last use (never their secret)."""
    emit_listing(call("identity", "GET", "/v1/service-keys", operator=True), output)


@service_keys.command("revoke")
def revoke_service_key(key_id: str) -> None:
    """Revoke a service key: every service refuses it within seconds."""
    call("identity", "DELETE", f"/v1/service-keys/{key_id}", operator=True)
    typer.echo(f"revoked service key {key_id}")
