"""The ``helpline`` command: tenants, users and keys, resources, dead letters, tail, doctor."""

import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from aiokafka.errors import KafkaError

from helpline_cli import doctor as doctor_checks
from helpline_cli import identity, records
from helpline_cli import partners as partner_access
from helpline_cli.filters import DeadLetterFilter, parse_since
from helpline_cli.http_api import (
    add_webhook_replay,
    document_group,
    keyed_group,
    resource_group,
)
from helpline_cli.kafka_access import KafkaAccess, KafkaAccessError
from helpline_cli.lag import consumer_lag, service_groups
from helpline_cli.output import Format, Output, echo_json, table
from helpline_cli.settings import CliSettings
from helpline_shared.kafka_acls import InvalidPartner
from helpline_shared.runtime.settings import UnknownVariable, refuse_unknown_variables

app = typer.Typer(name="helpline", help="Operate a Helpline deployment.", no_args_is_help=True)
dlq = typer.Typer(help="Dead letters: records a consumer gave up on", no_args_is_help=True)
app.add_typer(identity.tenants, name="tenants")
app.add_typer(identity.users, name="users")
app.add_typer(identity.api_keys, name="api-keys")
app.add_typer(identity.service_keys, name="service-keys")
partners = typer.Typer(
    help="Partners: Kafka users that read one tenant's partner stream", no_args_is_help=True
)
app.add_typer(dlq, name="dlq")
app.add_typer(partners, name="partners")
app.add_typer(
    resource_group(
        "intake",
        "/v1/domains",
        "mail domains (publish the TXT record, then verify)",
        actions=("verify",),
    ),
    name="domains",
)
app.add_typer(resource_group("intake", "/v1/mailboxes", "mailboxes"), name="mailboxes")
app.add_typer(
    resource_group(
        "intake", "/v1/quarantine", "quarantined mail", deletable=False, actions=("replay",)
    ),
    name="quarantine",
)
app.add_typer(
    resource_group(
        "routing",
        "/v1/agents",
        "agents (skills are set with update)",
        deletable=False,
        updatable=True,
        actions=("heartbeat",),
    ),
    name="agents",
)
app.add_typer(document_group("routing", "/v1/routing/rules", "routing rules"), name="rules")
app.add_typer(keyed_group("escalation", "/v1/sla/policies", "SLA policies"), name="sla-policies")
webhooks = resource_group(
    "notify",
    "/v1/webhook-endpoints",
    "webhook endpoints",
    updatable=True,
    actions=("disable", "rotate-secret"),
)
add_webhook_replay(webhooks)
app.add_typer(webhooks, name="webhooks")
app.add_typer(
    resource_group(
        "notify",
        "/v1/deliveries",
        "deliveries (cancel needs an admin token)",
        deletable=False,
        creatable=False,
        actions=("cancel", "resend"),
    ),
    name="deliveries",
)


@app.callback()
def _known_settings_only() -> None:
    """Refuse a HELPLINE_* variable no setting knows before any command runs."""
    try:
        refuse_unknown_variables("helpline", CliSettings)
    except UnknownVariable as error:
        typer.secho(str(error), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from error


def _topic(name: str) -> str:
    return CliSettings().topic_prefix + name


Types = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        help="Only events of this CloudEvents type (ce_type), e.g. "
        "helpline.ticket.created.v1 (repeatable)",
    ),
]
Keys = Annotated[
    list[str] | None,
    typer.Option("--key", help="Only records with this key, e.g. a ticket id (repeatable)"),
]
ErrorText = Annotated[
    str | None,
    typer.Option("--error", help="Only those whose recorded error contains this text (any case)"),
]
DeadSince = Annotated[
    str | None,
    typer.Option(
        "--since", help="Only those dead-lettered since: ISO 8601 with offset, or 30m, 24h, 7d"
    ),
]
Positions = Annotated[
    list[str] | None,
    typer.Option("--only", help="PARTITION:OFFSET of one dead letter (repeatable)"),
]


def _selected(
    topic: str,
    types: list[str] | None,
    keys: list[str] | None,
    error: str | None,
    since: str | None,
    only: list[str] | None,
) -> list[records.DeadLetter]:
    """The dead letters of TOPIC that pass the command's filters."""
    chosen = DeadLetterFilter(
        types=tuple(types or ()),
        keys=tuple(keys or ()),
        error=error,
        since=parse_since(since, datetime.now(UTC)) if since else None,
        positions=tuple(only or ()),
    )
    settings = CliSettings()
    letters = asyncio.run(
        records.dead_letters(
            settings.kafka_bootstrap_servers, _topic(topic), settings.kafka_security()
        )
    )
    return [letter for letter in letters if chosen.selects(letter)]


def _letter_line(letter: records.DeadLetter) -> str:
    return (
        f"{letter.partition}:{letter.offset} from {letter.original_topic} "
        f"group={letter.header('helpline-dlq-group')} "
        f"attempts={letter.header('helpline-dlq-attempts')} "
        f"error={letter.header('helpline-dlq-error')}"
    )


@dlq.command("list")
def list_dead_letters(
    topic: Annotated[str, typer.Argument(help="e.g. helpline.tickets")],
    type_: Types = None,
    key: Keys = None,
    error: ErrorText = None,
    since: DeadSince = None,
    output: Output = Format.table,
) -> None:
    """List the dead letters of TOPIC with why each one failed."""
    letters = _selected(topic, type_, key, error, since, None)
    if output is Format.json:
        echo_json([letter.summary() for letter in letters])
        return
    for letter in letters:
        typer.echo(_letter_line(letter))
    typer.echo(f"{len(letters)} dead letter(s)")


@dlq.command("replay")
def replay_dead_letters(
    topic: Annotated[str, typer.Argument(help="e.g. helpline.tickets")],
    type_: Types = None,
    key: Keys = None,
    error: ErrorText = None,
    since: DeadSince = None,
    only: Positions = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be replayed; send nothing")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Replay without asking (needed when not at a terminal)"),
    ] = False,
) -> None:
    """Send the dead letters of TOPIC that pass the filters back to it, as first published.

    Consumers skip events they already handled (by ce_id), so a replay is safe to repeat.
    """
    letters = _selected(topic, type_, key, error, since, only)
    if dry_run or not letters:
        for letter in letters:
            typer.echo(_letter_line(letter))
        typer.echo(
            f"would replay {len(letters)} dead letter(s)"
            if dry_run
            else "no dead letter passes the filters: nothing to replay"
        )
        return
    if not yes:
        if not sys.stdin.isatty():
            typer.secho(
                f"refusing to replay {len(letters)} dead letter(s) without --yes "
                "(not at a terminal; see them first with --dry-run)",
                err=True,
                fg=typer.colors.RED,
            )
            raise typer.Exit(1)
        typer.confirm(f"replay {len(letters)} dead letter(s) of {_topic(topic)}?", abort=True)
    settings = CliSettings()
    with typer.progressbar(length=len(letters), label="replaying") as bar:
        count = asyncio.run(
            records.replay(
                settings.kafka_bootstrap_servers,
                letters,
                progress=lambda _letter: bar.update(1),
                security=settings.kafka_security(),
            )
        )
    typer.echo(f"replayed {count} dead letter(s)")


@app.command()
def lag(
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group", help="Only this consumer group (repeatable); default: the services' groups"
        ),
    ] = None,
    max_lag: Annotated[
        int | None,
        typer.Option("--max-lag", help="Exit 1 when a group is behind by more records than this"),
    ] = None,
    output: Output = Format.table,
) -> None:
    """Consumer lag of each group, partition by partition: committed and end offsets."""
    settings = CliSettings()
    known = service_groups(settings.topic_prefix)
    wanted = {name: known.get(name, ()) for name in group} if group else known
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the error below says it once
    try:
        groups = asyncio.run(
            consumer_lag(settings.kafka_bootstrap_servers, settings.kafka_security(), wanted)
        )
    except (KafkaError, OSError) as error:
        typer.secho(
            f"cannot read consumer offsets from {settings.kafka_bootstrap_servers}: "
            f"{error} (helpline doctor says why)",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(1) from error
    if output is Format.json:
        echo_json([found.as_dict() for found in groups])
    else:
        rows = [row.as_dict() for found in groups for row in found.partitions]
        if rows:
            typer.echo(table(rows, ("group", "topic", "partition", "committed", "end", "lag")))
        for found in groups:
            typer.echo(
                f"{found.group}: "
                + (
                    "not authorized to describe it"
                    if not found.authorized
                    else f"lag {found.total}"
                    + ("" if found.partitions else " (no partition: nothing to read)")
                )
            )
    behind = [found for found in groups if max_lag is not None and found.total > max_lag]
    for found in behind:
        typer.secho(
            f"{found.group} is {found.total} record(s) behind (more than {max_lag})",
            err=True,
            fg=typer.colors.RED,
        )
    if behind:
        raise typer.Exit(1)


def _kafka_access(settings: CliSettings) -> KafkaAccess:
    return KafkaAccess(settings.kafka_bootstrap_servers, settings.kafka_security())


@partners.command("create")
def create_partner(
    tenant: str,
    name: Annotated[str, typer.Argument(help="The partner's name (letters, digits, - and _)")],
    output: Annotated[
        Path | None,
        typer.Option(help="Write the client properties here (mode 600) instead of printing them"),
    ] = None,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            help="The address partners connect to; default: HELPLINE_KAFKA_BOOTSTRAP_SERVERS"
        ),
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option(help="The CA partners trust; default: HELPLINE_KAFKA_SSL_CA_FILE")
    ] = None,
) -> None:
    """Create partner NAME of TENANT: a SCRAM user that may read helpline.partner.TENANT."""
    settings = CliSettings()
    try:
        credentials = partner_access.create_partner(
            _kafka_access(settings), tenant, name, settings.topic_prefix
        )
    except (InvalidPartner, KafkaAccessError) as error:
        typer.secho(f"cannot create the partner: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error
    text = credentials.properties(
        bootstrap_servers or settings.kafka_bootstrap_servers, ca_file or settings.kafka_ssl_ca_file
    )
    if output is None:
        typer.echo(text, nl=False)
        return
    output.touch(mode=0o600)
    output.write_text(text)
    typer.echo(f"partner {credentials.user}: client properties written to {output}")


@partners.command("list")
def list_partners(output: Output = Format.table) -> None:
    """List partner users and what each may read."""
    try:
        found = partner_access.list_partners(_kafka_access(CliSettings()))
    except KafkaAccessError as error:
        typer.secho(f"cannot list partners: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from error
    if output is Format.json:
        echo_json([{"user": user, "grants": list(grants)} for user, grants in found.items()])
        return
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
    idle: Annotated[float | None, typer.Option(help="Stop after this many quiet seconds")] = None,
    data: Annotated[bool, typer.Option(help="Show each event's data too")] = False,
) -> None:
    """Print TOPIC's events as readable lines as they arrive."""
    settings = CliSettings()

    async def run() -> None:
        async for record in records.follow(
            settings.kafka_bootstrap_servers,
            _topic(topic),
            from_beginning,
            limit,
            idle,
            settings.kafka_security(),
        ):
            typer.echo(records.describe(record, data))

    try:
        asyncio.run(run())
    except records.UnknownTopic as error:
        typer.secho(f"no topic {error} on {settings.kafka_bootstrap_servers}", err=True)
        raise typer.Exit(1) from error


@app.command()
def doctor(
    max_lag: Annotated[
        int,
        typer.Option(help="A consumer group further behind than this many records is a problem"),
    ] = doctor_checks.Limits.max_lag,
    max_dead_letters: Annotated[
        int, typer.Option(help="A dead-letter topic holding more records than this is a problem")
    ] = doctor_checks.Limits.max_dead_letters,
    max_outbox_backlog: Annotated[
        int,
        typer.Option(
            help="More unpublished outbox rows than this in a service's database is a problem"
        ),
    ] = doctor_checks.Limits.max_outbox_backlog,
) -> None:
    """Check Kafka, topics, dead letters, lag, /readyz, databases, outboxes; exit 1 if wrong."""
    limits = doctor_checks.Limits(max_lag, max_dead_letters, max_outbox_backlog)
    findings = asyncio.run(doctor_checks.diagnose(CliSettings(), limits))
    for finding in findings:
        typer.secho(
            ("ok      " if finding.ok else "PROBLEM ") + finding.line,
            fg=None if finding.ok else typer.colors.RED,
        )
    if not all(finding.ok for finding in findings):
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the ``helpline`` script."""
    app()
