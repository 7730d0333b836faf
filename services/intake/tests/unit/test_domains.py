"""Mailboxes belong to their tenant's verified domains; a taken address names no owner."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_intake.service_layer.inbound import mailbox_for
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()


class PublishedRecords:
    """A DNS zone as tests publish it: (record name, value) pairs."""

    def __init__(self) -> None:
        self.records: set[tuple[str, str]] = set()

    async def proven(self, record_name: str, record_value: str) -> bool:
        return (record_name, record_value) in self.records


class Tenants:
    def __init__(self, app: Any, runtime: ServiceRuntime, dns: PublishedRecords) -> None:
        self.app, self.runtime, self.dns = app, runtime, dns

    def client(self, tenant: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://intake",
            headers={"authorization": f"Bearer {IDENTITY.api_key(tenant, ('admin',))}"},
        )

    async def own(self, client: httpx.AsyncClient, name: str) -> dict[str, Any]:
        """Add ``name``, publish its record and verify it."""
        added = (await client.post("/v1/domains", json={"name": name})).json()
        self.dns.records.add((added["verification"]["name"], added["verification"]["value"]))
        verified = await client.post(f"/v1/domains/{added['id']}/verify")
        assert verified.status_code == 200, verified.text
        found: dict[str, Any] = verified.json()
        return found


@pytest.fixture
async def tenants(tmp_path: Path) -> AsyncIterator[Tenants]:
    settings = IntakeSettings(data_dir=tmp_path, **IDENTITY.settings(), smtp_server_enabled=False)
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
    dns = PublishedRecords()
    app, runtime = bootstrap(settings, ownership=dns)
    yield Tenants(app, runtime, dns)
    await runtime.engine.dispose()


def detail(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["detail"])


async def test_an_unverified_domain_is_refused_naming_the_field(tenants: Tenants) -> None:
    async with tenants.client("acme") as acme:
        response = await acme.post("/v1/mailboxes", json={"address": "support@acme.test"})
        assert response.status_code == 422
        assert detail(response).startswith("address: the domain acme.test is not a verified")
        await tenants.own(acme, "acme.test")
        response = await acme.post(
            "/v1/mailboxes",
            json={
                "address": "support@acme.test",
                "aliases": ["help@acme.test", "x@elsewhere.test"],
            },
        )
        assert response.status_code == 422 and detail(response).startswith("aliases.1: ")
        response = await acme.post("/v1/mailboxes", json={"address": "support@acme.test"})
        assert response.status_code == 201, response.text


async def test_verification_needs_the_published_record(tenants: Tenants) -> None:
    async with tenants.client("acme") as acme:
        added = (await acme.post("/v1/domains", json={"name": "Acme.Test"})).json()
        assert (added["name"], added["status"]) == ("acme.test", "pending")
        assert added["verification"]["name"] == "_helpline-challenge.acme.test"
        response = await acme.post(f"/v1/domains/{added['id']}/verify")
        assert response.status_code == 409 and detail(response).startswith("verification: ")
        tenants.dns.records.add((added["verification"]["name"], "helpline-domain-verification=x"))
        assert (await acme.post(f"/v1/domains/{added['id']}/verify")).status_code == 409
        tenants.dns.records.add((added["verification"]["name"], added["verification"]["value"]))
        verified = (await acme.post(f"/v1/domains/{added['id']}/verify")).json()
        assert verified["status"] == "verified" and verified["verified_at"]


async def test_another_tenant_cannot_claim_a_verified_domain_or_its_addresses(
    tenants: Tenants,
) -> None:
    async with tenants.client("acme") as acme, tenants.client("mallory") as mallory:
        pending = (await mallory.post("/v1/domains", json={"name": "acme.test"})).json()
        await tenants.own(acme, "acme.test")
        assert (
            await acme.post("/v1/mailboxes", json={"address": "support@acme.test"})
        ).status_code == 201

        # Mallory's pending claim can no longer be verified, even with a record in place.
        tenants.dns.records.add((pending["verification"]["name"], pending["verification"]["value"]))
        response = await mallory.post(f"/v1/domains/{pending['id']}/verify")
        assert response.status_code == 409 and "acme" not in detail(response).replace(
            "acme.test", ""
        )
        response = await mallory.post("/v1/domains", json={"name": "acme.test"})
        assert response.status_code == 409
        fresh = await mallory.post("/v1/domains", json={"name": "ACME.test."})
        assert fresh.status_code in (409, 422)
        for address in ("support@acme.test", "billing@acme.test"):
            response = await mallory.post("/v1/mailboxes", json={"address": address})
            assert response.status_code == 422, response.text
            assert detail(response).startswith("address: the domain acme.test is not a")
        assert (await mallory.get("/v1/mailboxes")).json() == []


async def test_a_taken_address_answers_409_without_naming_it(tenants: Tenants) -> None:
    async with tenants.client("acme") as acme:
        await tenants.own(acme, "acme.test")
        await acme.post("/v1/mailboxes", json={"address": "support@acme.test"})
        response = await acme.post(
            "/v1/mailboxes", json={"address": "sales@acme.test", "aliases": ["support@acme.test"]}
        )
        assert response.status_code == 409
        assert "support@" not in detail(response) and "acme" not in detail(response)


async def test_a_mailbox_outside_its_tenants_verified_domains_takes_no_mail(
    tenants: Tenants,
) -> None:
    async with tenants.client("acme") as acme:
        domain = await tenants.own(acme, "acme.test")
        await acme.post("/v1/mailboxes", json={"address": "support@acme.test"})

        def unit_of_work() -> IntakeUnitOfWork:
            return tenants.runtime.unit_of_work(IntakeUnitOfWork)

        assert await mailbox_for("support+x@acme.test", unit_of_work) is not None
        assert (await acme.delete(f"/v1/domains/{domain['id']}")).status_code == 409
        async with unit_of_work() as uow:
            await uow.domains.remove("acme", domain["id"])
            await uow.commit()
        assert await mailbox_for("support@acme.test", unit_of_work) is None
