"""The ``helpline`` command: tenants and tokens, resources, dead letters, tail and doctor."""

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer

from helpline_cli import doctor as doctor_checks
from helpline_cli import partners as partner_access
from helpline_cli import records
from helpline_cli.http_api import document_group, keyed_group, resource_group
from helpline_cli.kafka_access import KafkaAccess, KafkaAccessError
from helpline_cli.settings import CliSettings
from helpline_shared.kafka_acls import InvalidPartner
from helpline_shared.runtime.auth import ALL_SCOPES, InvalidToken, issue_token, verify_token
from helpline_shared.runtime.settings import UnknownVariable, refuse_unknown_variables

app = typer.Typer(name="helpline", help="Operate a Helpline deployment.", no_args_is_help=True)
tenants = typer.Typer(help="Tenants (a tenant exists through its tokens)", no_args_is_help=True)
tokens = typer.Typer(help="Bearer tokens scoped to one tenant", no_args_is_help=True)
dlq = typer.Typer(help="Dead letters: records a consumer gave up on", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
app.add_typer(tokens, name="tokens")
partners = typer.Typer(help="Partners: Kafka users that read one tenant's partner stream",
                        no_args_is_help=True)
app.add_typer(dlq, name="dlq")
app.add_typer(partners, name="partners")
app.add_typer(resource_group("intake", "/v1/domains", "mail domains (publish the TXT record, "
                             "then verify)", actions=("verify",)), name="domains")
app.add_typer(resource_group("intake", "/v1/mailboxes", "mailboxes"), name="mailboxes")
app.add_typer(resource_group("intake", "/v1/quarantine", "quarantined mail", deletable=False,
                             actions=("replay",)), name="quarantine")
app.add_typer(resource_group("routing", "/v1/agents", "agents (skills are set with update)",
                             deletable=False, updatable=True, actions=("heartbeat",)),
              name="agents")
app.add_typer(document_group("routing", "/v1/routing/rules", "routing rules"), name="rules")
app.add_typer(keyed_group("escalation", "/v1/sla/policies", "SLA policies"), name="sla-policies")
app.add_typer(resource_group("notify", "/v1/webhook-endpoints", "webhook endpoints",
                             updatable=True, actions=("disable", "rotate-secret", "replay")),
              name="webhooks")
app.add_typer(resource_group("notify", "/v1/deliveries", "deliveries (cancel needs an admin token)",
                             deletable=False, creatable=False, actions=("cancel", "resend")),
              name="deliveries")



@app.callback()
def _known_settings_only() -> None:
    """Refuse a HELPLINE_* variable no setting knows before any command runs."""
    try:
        refuse_unknown_variables("helpline", CliSettings)
    except UnknownVariable as error:
        typer.secho(str(error), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from error


Scopes = Annotated[list[str] | None, typer.Option("--scope", help=f"One of {ALL_SCOPES}")]


@tenants.command("create")
def create_tenant(name: Annotated[str, typer.Argument(help="A readable name")]) -> None:
    """Create a tenant id and print it with an admin token for it."""
    tenant_id = f"{name.lower().replace(' ', '-')}-{uuid.uuid4().hex[:8]}"
    secret = CliSettings().token_secret.get_secret_value()
    typer.echo(f"tenant: {tenant_id}")
    typer.echo(f"admin token: {issue_token(tenant_id, secret)}")


@tokens.command("issue")
def issue(tenant: str, scope: Scopes = None) -> None:
    """Print a token for ``tenant`` signed with HELPLINE_TOKEN_SECRET."""
    unknown = set(scope or ()) - set(ALL_SCOPES)
    if unknown:
        raise typer.BadParameter(f"unknown scope(s) {sorted(unknown)}; known: {ALL_SCOPES}")
    secret = CliSettings().token_secret.get_secret_value()
    typer.echo(issue_token(tenant, secret, tuple(scope or ALL_SCOPES)))


@tokens.command("verify")
def verify(token: str) -> None:
    """Say whose token this is, or why it is not valid here."""
    try:
        principal = verify_token(token, CliSettings().token_secret.get_secret_value())
    except InvalidToken as error:
        typer.secho(f"invalid token: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error
    typer.echo(f"tenant {principal.tenant_id}, scopes {', '.join(sorted(principal.scopes))}")


def _topic(name: str) -> str:
    return CliSettings().topic_prefix + name


@dlq.command("list")
def list_dead_letters(topic: Annotated[str, typer.Argument(help="e.g. helpline.tickets")]
                      ) -> None:
    """List the dead letters of TOPIC with why each one failed."""
    settings = CliSettings()
    letters = asyncio.run(records.dead_letters(settings.kafka_bootstrap_servers, _topic(topic),
                                                    settings.kafka_security()))
    for letter in letters:
        typer.echo(f"{letter.partition}:{letter.offset} from {letter.original_topic} "
                   f"group={letter.header('helpline-dlq-group')} "
                   f"attempts={letter.header('helpline-dlq-attempts')} "
                   f"error={letter.header('helpline-dlq-error')}")
    typer.echo(f"{len(letters)} dead letter(s)")


@dlq.command("replay")
def replay_dead_letters(
    topic: str,
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="PARTITION:OFFSET of one dead letter (repeatable); default: all")] = None,
) -> None:
    """Send dead letters of TOPIC back to it (consumers skip events they already handled)."""
    settings = CliSettings()
    letters = asyncio.run(records.dead_letters(settings.kafka_bootstrap_servers, _topic(topic),
                                                    settings.kafka_security()))
    if only:
        letters = [item for item in letters if f"{item.partition}:{item.offset}" in set(only)]
    with typer.progressbar(length=len(letters), label="replaying") as bar:
        count = asyncio.run(records.replay(settings.kafka_bootstrap_servers, letters,
                                           progress=lambda _letter: bar.update(1),
                                           security=settings.kafka_security()))
    typer.echo(f"replayed {count} dead letter(s)")


def _kafka_access(settings: CliSettings) -> KafkaAccess:
    return KafkaAccess(settings.kafka_bootstrap_servers, settings.kafka_security())


@partners.command("create")
def create_partner(
    tenant: str,
    name: Annotated[str, typer.Argument(help="The partner's name (letters, digits, - and _)")],
    output: Annotated[Path | None, typer.Option(
        help="Write the client properties here (mode 600) instead of printing them")] = None,
    bootstrap_servers: Annotated[str | None, typer.Option(
        help="The address partners connect to; default: HELPLINE_KAFKA_BOOTSTRAP_SERVERS")
    ] = None,
    ca_file: Annotated[Path | None, typer.Option(
        help="The CA partners trust; default: HELPLINE_KAFKA_SSL_CA_FILE")] = None,
) -> None:
    """Create partner NAME of TENANT: a SCRAM user that may read helpline.partner.TENANT."""
    settings = CliSettings()
    try:
        credentials = partner_access.create_partner(_kafka_access(settings), tenant, name,
                                                    settings.topic_prefix)
    except (InvalidPartner, KafkaAccessError) as error:
        typer.secho(f"cannot create the partner: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error
    text = credentials.properties(bootstrap_servers or settings.kafka_bootstrap_servers,
                                  ca_file or settings.kafka_ssl_ca_file)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.touch(mode=0o600)
    output.write_text(text)
    typer.echo(f"partner {credentials.user}: client properties written to {output}")


@partners.command("list")
def list_partners() -> None:
    """List partner users and what each may read."""
    try:
        found = partner_access.list_partners(_kafka_access(CliSettings()))
    except KafkaAccessError as error:
        typer.secho(f"cannot list partners: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error
    for user, grants in found.items():
        typer.echo(f"{user}: {', '.join(grants) or 'no ACL'}")
    typer.echo(f"{len(found)} partner(s)")


@partners.command("revoke")
def revoke_partner(tenant: str, name: str) -> None:
    """Delete partner NAME of TENANT: its credentials and every ACL it has."""
    try:
        count = partner_access.revoke_partner(_kafka_access(CliSettings()), tenant, name)
    except (InvalidPartner, KafkaAccessError) as error:
        typer.secho(f"cannot revoke the partner: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error
    typer.echo(f"revoked partner.{tenant}.{name} ({count} ACL(s) removed)")


@app.command()
def tail(
    topic: str,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record")] = False,
    limit: Annotated[int | None, typer.Option(help="Stop after this many records")] = None,
    idle: Annotated[float | None, typer.Option(help="Stop after this many quiet seconds")
                    ] = None,
    data: Annotated[bool, typer.Option(help="Show each event's data too")] = False,
) -> None:
    """Print TOPIC's events as readable lines as they arrive."""
    settings = CliSettings()

    async def run() -> None:
        async for record in records.follow(settings.kafka_bootstrap_servers, _topic(topic),
                                           from_beginning, limit, idle,
                                           settings.kafka_security()):
            typer.echo(records.describe(record, data))

    try:
        asyncio.run(run())
    except records.UnknownTopic as error:
        typer.secho(f"no topic {error} on {settings.kafka_bootstrap_servers}", err=True)
        raise typer.Exit(1) from error


@app.command()
def doctor() -> None:
    """Check Kafka, topics, databases and migrations; exit 1 if anything is wrong."""
    findings = asyncio.run(doctor_checks.diagnose(CliSettings()))
    for finding in findings:
        typer.secho(("ok      " if finding.ok else "PROBLEM ") + finding.line,
                    fg=None if finding.ok else typer.colors.RED)
    if not all(finding.ok for finding in findings):
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the ``helpline`` script."""
    app()
