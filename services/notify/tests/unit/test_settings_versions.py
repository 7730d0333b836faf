"""A tenant's subscriptions, endpoints and templates are read once per version of them: later
transactions read the version (one statement) and use what this process kept; a change made
anywhere (another replica, the worker, the API) writes a new version and is seen at once."""

import asyncio
import sqlite3
from pathlib import Path

from notify_testkit import TENANT, UnitOfWorkFactory, envelope_of, new_ticket_id, notify_of
from notify_testkit import ticket_created as created
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_notify.adapters.orm import metadata
from helpline_notify.bootstrap import MIGRATIONS
from helpline_notify.domain.templates import TemplateSource
from helpline_notify.service_layer import endpoints
from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.testing import StatementLog

SETTINGS_READS = ("SELECT subscriptions", "SELECT webhook_endpoints", "SELECT templates")


def settings_reads(log: StatementLog) -> int:
    return sum(log.count(read) for read in SETTINGS_READS)


def version_reads(log: StatementLog) -> int:
    """Statements reading the settings version (alone, or with the ticket)."""
    return sum("tenant_settings.version" in statement for statement in log.statements)


def units_of_work(engine: AsyncEngine) -> UnitOfWorkFactory:
    """Another process's units of work on the same database (a second replica)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    return lambda: NotifyUnitOfWork(
        sessions, outbox_table=outbox, inbox_table=inbox, source="/helpline/notify"
    )


async def add_endpoint(unit_of_work: UnitOfWorkFactory, url: str) -> str:
    endpoint = await endpoints.register_webhook_endpoint(
        endpoints.RegisterWebhookEndpoint(
            tenant_id=TENANT, url=url, event_types=("*",), allow_private_networks=False
        ),
        unit_of_work(),
    )
    return endpoint.id


async def test_a_tenants_settings_are_read_once_per_version(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    await add_endpoint(unit_of_work, "https://hooks.example.com/in")
    await notify_of(envelope_of(created(new_ticket_id())), unit_of_work)
    log = StatementLog(engine)

    assert await notify_of(envelope_of(created(new_ticket_id())), unit_of_work) == 2

    assert settings_reads(log) == 0, log.statements
    assert version_reads(log) == 1


async def test_a_tenant_that_never_set_anything_costs_one_read(
    engine: AsyncEngine, unit_of_work: UnitOfWorkFactory
) -> None:
    log = StatementLog(engine)

    assert await notify_of(envelope_of(created(new_ticket_id())), unit_of_work) == 1

    assert settings_reads(log) == 0, log.statements
    assert version_reads(log) == 1


async def test_a_change_made_by_another_replica_is_seen_at_once(
    tmp_path: Path, database_url: str, unit_of_work: UnitOfWorkFactory
) -> None:
    other_engine = create_engine(database_url)
    other = units_of_work(other_engine)
    try:
        first = await add_endpoint(unit_of_work, "https://first.example.com/in")
        async with unit_of_work() as uow:  # this process keeps the tenant's endpoints
            assert [e.id for e in await uow.endpoints.for_tenant(TENANT)] == [first]

        second = await add_endpoint(other, "https://second.example.com/in")
        async with other() as uow:
            await uow.templates.put(
                TENANT, "helpline.ticket.created.v1", "en", TemplateSource("S", "T"), utcnow()
            )
            await uow.commit()

        async with unit_of_work() as uow:
            assert [e.id for e in await uow.endpoints.for_tenant(TENANT)] == [first, second]
            assert await uow.templates.get(TENANT, "helpline.ticket.created.v1", "en") == (
                TemplateSource("S", "T")
            )
        async with other() as uow:  # the worker there disables the first endpoint
            await uow.endpoints.disable(first, "answered 410 Gone")
            await uow.commit()
        async with unit_of_work() as uow:
            enabled = {e.id: e.enabled for e in await uow.endpoints.for_tenant(TENANT)}
        assert enabled == {first: False, second: True}
    finally:
        await other_engine.dispose()


async def test_a_rolled_back_change_leaves_the_kept_settings_as_they_were(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    first = await add_endpoint(unit_of_work, "https://first.example.com/in")
    async with unit_of_work() as uow:
        await uow.endpoints.disable(first, "tried")
        assert not (await uow.endpoints.for_tenant(TENANT))[0].enabled
        await uow.rollback()

    async with unit_of_work() as uow:
        assert (await uow.endpoints.for_tenant(TENANT))[0].enabled


async def test_tenants_with_settings_before_the_versions_get_one(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, MIGRATIONS, url, "0005")
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO templates VALUES ('acme', 'helpline.ticket.created.v1', 'en', 'S', 'T',"
            " NULL, '2026-03-02 09:30:00.000000')"
        )

    await asyncio.to_thread(upgrade, MIGRATIONS, url)

    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT tenant_id, length(version) FROM tenant_settings"
        ).fetchall()
    assert rows == [("acme", 32)]
