"""The ticket API over HTTP (in-process, SQLite): idempotency, pages, filters, merge, errors."""

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpline_intake.adapters.attachments import MemoryAttachmentStore
from helpline_intake.bootstrap import MIGRATIONS, bootstrap
from helpline_intake.config import IntakeSettings
from helpline_intake.service_layer.email_intake import MailProcessing, process_inbound
from helpline_intake.service_layer.inbound import mailbox_for, store_raw
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.testing import stand_in_identity

IDENTITY = stand_in_identity()
TICKET = {
    "subject": "Export fails",
    "description": "since 4.2",
    "requester": {"email": "cy@customer.example", "name": "Cy"},
    "priority": "high",
    "type": "corrective",
    "tags": ["exports"],
}


class Api:
    """An in-process client per tenant and scope set."""

    def __init__(self, app: Any, runtime: ServiceRuntime, store: MemoryAttachmentStore) -> None:
        self.app = app
        self.runtime = runtime
        self.store = store

    def unit_of_work(self) -> IntakeUnitOfWork:
        return self.runtime.unit_of_work(IntakeUnitOfWork)

    def client(
        self,
        tenant: str = "acme",
        scopes: tuple[str, ...] = ("tickets:read", "tickets:write", "admin"),
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://intake",
            headers={"authorization": f"Bearer {IDENTITY.api_key(tenant, scopes)}"},
        )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = IntakeSettings(
        data_dir=tmp_path,
        **IDENTITY.settings(),
        smtp_server_enabled=False,
        domain_verification="trust",
    )
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.resolved_database_url("intake"))
    store = MemoryAttachmentStore()
    app, runtime = bootstrap(settings, store)
    yield Api(app, runtime, store)
    await runtime.engine.dispose()


async def verified_domain(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """Add and verify a mail domain (the app trusts every claim here)."""
    added = await client.post("/v1/domains", json={"name": name})
    assert added.status_code == 201, added.text
    verified = await client.post(f"/v1/domains/{added.json()['id']}/verify")
    assert verified.status_code == 200, verified.text
    found: dict[str, Any] = verified.json()
    return found


async def create(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/v1/tickets", json={**TICKET, **changes})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_retry_with_the_same_idempotency_key_returns_the_original(api: Api) -> None:
    async with api.client() as client:
        headers = {"Idempotency-Key": "recurring-2026-11"}
        first = await client.post("/v1/tickets", json=TICKET, headers=headers)
        again = await client.post("/v1/tickets", json=TICKET, headers=headers)
        other = await client.post(
            "/v1/tickets", json={**TICKET, "subject": "Other"}, headers=headers
        )
        listed = (await client.get("/v1/tickets")).json()["items"]
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and len(listed) == 1
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in other.json()["detail"]


async def test_concurrent_retries_with_one_key_make_one_ticket(api: Api) -> None:
    async with api.client() as client:
        responses = await asyncio.gather(
            *[
                client.post("/v1/tickets", json=TICKET, headers={"Idempotency-Key": "k1"})
                for _ in range(5)
            ]
        )
        listed = (await client.get("/v1/tickets")).json()["items"]
    assert {response.json()["id"] for response in responses} == {listed[0]["id"]}
    assert len(listed) == 1


async def test_pages_and_filters_narrow_the_list(api: Api) -> None:
    async with api.client() as client:
        for index in range(5):
            await create(
                client,
                tags=["exports" if index % 2 else "billing"],
                requester={"email": f"c{index % 2}@customer.example"},
            )
        await create(client, type="question")
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, "tag": "billing"}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/tickets", params=params)).json()
            seen.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        by_requester = (
            await client.get("/v1/tickets", params={"requester": "c1@customer.example"})
        ).json()["items"]
        questions = (await client.get("/v1/tickets", params={"type": "question"})).json()
        future = (
            await client.get("/v1/tickets", params={"created_after": "2999-01-01T00:00:00Z"})
        ).json()
    assert len(seen) == len(set(seen)) == 3
    assert len(by_requester) == 2
    assert len(questions["items"]) == 1 and future["items"] == []


async def test_updates_change_fields_and_a_closed_ticket_stays_closed(api: Api) -> None:
    async with api.client() as client:
        ticket = await create(client)
        path = f"/v1/tickets/{ticket['id']}"
        changed = await client.patch(
            path, json={"status": "pending", "priority": "urgent", "tags": ["a", "b"]}
        )
        await client.patch(path, json={"status": "closed"})
        reopened = await client.patch(path, json={"status": "open"})
        bad = await client.patch(path, json={"status": "sleeping"})
    assert changed.json()["status"] == "pending" and changed.json()["tags"] == ["a", "b"]
    assert reopened.status_code == 409
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


async def test_messages_carry_attachments_that_download_intact(api: Api) -> None:
    async with api.client() as client:
        ticket = await create(client)
        response = await client.post(
            f"/v1/tickets/{ticket['id']}/messages",
            json={
                "body": "see log",
                "public": False,
                "attachments": [
                    {
                        "filename": "app.log",
                        "content_type": "text/plain",
                        "content_base64": base64.b64encode(b"line 1\n").decode(),
                    }
                ],
            },
        )
        assert response.status_code == 201, response.text
        [attachment] = response.json()["attachments"]
        downloaded = await client.get(attachment["url"])
        broken = await client.post(
            f"/v1/tickets/{ticket['id']}/messages",
            json={"body": "x", "attachments": [{"filename": "a", "content_base64": "!!"}]},
        )
    assert downloaded.content == b"line 1\n" and attachment["size"] == 7
    assert broken.status_code == 400 and "attachments.0.content_base64" in broken.json()["detail"]


async def test_merging_closes_the_duplicate_and_notes_it_on_the_target(api: Api) -> None:
    async with api.client() as client:
        target, duplicate = await create(client), await create(client, subject="Dup")
        merged = await client.post(
            f"/v1/tickets/{duplicate['id']}/merge", json={"into_ticket_id": target["id"]}
        )
        source = (await client.get(f"/v1/tickets/{duplicate['id']}")).json()
        notes = (await client.get(f"/v1/tickets/{target['id']}/messages")).json()
        itself = await client.post(
            f"/v1/tickets/{target['id']}/merge", json={"into_ticket_id": target["id"]}
        )
    assert merged.status_code == 200
    assert (source["status"], source["merged_into_id"]) == ("closed", target["id"])
    assert "Dup" in notes[0]["body"] and itself.status_code == 409


async def test_requesters_of_an_organisation_open_tickets_on_its_plan(api: Api) -> None:
    async with api.client() as client:
        organization = (
            await client.post(
                "/v1/organizations",
                json={"name": "Customer Inc", "plan": "premium", "domains": ["customer.example"]},
            )
        ).json()
        ticket = await create(client)
        requesters = (
            await client.get("/v1/requesters", params={"organization_id": organization["id"]})
        ).json()
        bad_plan = await client.post("/v1/organizations", json={"name": "x", "plan": "gold"})
    assert ticket["organization_id"] == organization["id"]
    assert [item["email"] for item in requesters] == ["cy@customer.example"]
    assert bad_plan.status_code == 422 and bad_plan.json()["errors"][0]["field"] == "plan"


async def test_scopes_limit_what_a_token_may_do(api: Api) -> None:
    async with api.client(scopes=("tickets:read",)) as reader:
        assert (await reader.post("/v1/tickets", json=TICKET)).status_code == 403
        assert (await reader.get("/v1/tickets")).status_code == 200
        assert (await reader.get("/v1/quarantine")).status_code == 403
    async with api.client(scopes=("tickets:write", "tickets:read")) as writer:
        assert (
            await writer.post("/v1/mailboxes", json={"address": "support@acme.test"})
        ).status_code == 403


async def test_every_endpoint_answers_404_for_another_tenants_ids(api: Api) -> None:
    async with api.client("acme") as acme:
        ticket = await create(acme)
        message = (
            await acme.post(
                f"/v1/tickets/{ticket['id']}/messages",
                json={
                    "body": "x",
                    "attachments": [
                        {"filename": "a.txt", "content_base64": base64.b64encode(b"a").decode()}
                    ],
                },
            )
        ).json()
        organization = (await acme.post("/v1/organizations", json={"name": "O"})).json()
        requester = (await acme.get("/v1/requesters")).json()[0]
        domain = await verified_domain(acme, "acme.test")
        mailbox = (await acme.post("/v1/mailboxes", json={"address": "s@acme.test"})).json()
        quarantined = await _quarantined_mail(api)
    ids = {
        "ticket_id": ticket["id"],
        "message_id": message["id"],
        "attachment_id": message["attachments"][0]["id"],
        "organization_id": organization["id"],
        "requester_id": requester["id"],
        "mailbox_id": mailbox["id"],
        "inbound_id": quarantined,
        "domain_id": domain["id"],
    }
    bodies = {
        "messages": {"body": "x"},
        "merge": {"into_ticket_id": ticket["id"]},
        "organizations": {"name": "O"},
        "requesters": {"email": "z@z.example"},
        "tickets": {"status": "open"},
    }
    checked = 0
    async with api.client("other") as other:
        for template, operations in api.app.openapi()["paths"].items():
            if "{" not in template:
                continue
            path = template.format(**ids)
            for method in (name.upper() for name in operations):
                last = template.rstrip("/").split("/")[-1]
                kind = last if not last.startswith("{") else template.split("/")[2]
                body = bodies.get(kind) if method in ("POST", "PUT", "PATCH") else None
                response = await other.request(method, path, json=body)
                assert response.status_code == 404, (method, path, response.text)
                checked += 1
    assert checked >= 15


async def _quarantined_mail(api: Api) -> str:
    """Deliver a broken mail to acme's mailbox s@acme.test; return its inbound id."""
    processing = MailProcessing(api.unit_of_work, MemoryAttachmentStore())
    mailbox = await mailbox_for("s@acme.test", api.unit_of_work)
    assert mailbox is not None
    [stored] = await store_raw(b"garbage", [mailbox], ["s@acme.test"], "smtp", api.unit_of_work)
    assert await process_inbound(stored.inbound_id, processing) == "quarantined"
    return stored.inbound_id


async def test_attachments_download_with_nosniff_and_a_safe_content_disposition(api: Api) -> None:
    async with api.client() as client:
        await verified_domain(client, "acme.test")
        assert (
            await client.post("/v1/mailboxes", json={"address": "support@acme.test"})
        ).status_code == 201
        raw = (
            b"From: cy@customer.example\r\nTo: support@acme.test\r\nSubject: page\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
            b"Content-Type: text/html\r\nContent-Disposition: attachment; filename*=utf-8''"
            b"r%C3%A9sum%C3%A9%20%22x%22%0D%0AX-Evil%3A%201%E2%80%AEtxt.html\r\n\r\n"
            b"<script>alert(1)</script>\r\n--b--\r\n"
        )
        mailbox = await mailbox_for("support@acme.test", api.unit_of_work)
        assert mailbox is not None
        [stored] = await store_raw(raw, [mailbox], ["support@acme.test"], "smtp", api.unit_of_work)
        processing = MailProcessing(api.unit_of_work, api.store)
        assert await process_inbound(stored.inbound_id, processing) == "processed"
    async with api.unit_of_work() as uow:
        [ticket] = await uow.tickets.page("acme", limit=10)
        [message] = await uow.tickets.messages("acme", ticket.id)
    async with api.client() as client:
        url = (
            f"/v1/tickets/{ticket.id}/messages/{message.id}/attachments/"
            f"{message.attachments[0]['id']}"
        )
        response = await client.get(url)
        quarantine = await client.get(f"/v1/quarantine/{stored.inbound_id}/raw")
    assert response.status_code == 200 and response.content.startswith(b"<script>")
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition == (
        'attachment; filename="r_sum_ _x_ X-Evil: 1_txt.html"; '
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22%20X-Evil%3A%201_txt.html"
    )
    assert "sandbox" in response.headers["content-security-policy"]
    assert quarantine.headers["x-content-type-options"] == "nosniff"


HOSTILE = [
    "cy\x00@customer.example",
    "cy@customer.example\u202e",
    "c\ry@customer.example",
    "cy\u0085@customer.example",
]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        *[
            ("/v1/tickets", {**TICKET, "requester": {"email": value}}, "requester.email")
            for value in HOSTILE
        ],
        (
            "/v1/tickets",
            {**TICKET, "requester": {"email": "cy@customer.example", "name": "Cy\u202eevil"}},
            "requester.name",
        ),
        ("/v1/tickets", {**TICKET, "subject": "Hi\r\nBcc: all@x.example"}, "subject"),
        *[("/v1/requesters", {"email": value}, "email") for value in HOSTILE],
        ("/v1/requesters", {"email": "z@z.example", "name": "Zoe\x00"}, "name"),
        ("/v1/organizations", {"name": "Org\u2066"}, "name"),
        *[
            (
                "/v1/mailboxes",
                {"address": value.replace("customer.example", "acme.test")},
                "address",
            )
            for value in HOSTILE
        ],
        ("/v1/mailboxes", {"address": "s@acme.test", "aliases": ["h\x00@acme.test"]}, "aliases.0"),
        (
            "/v1/mailboxes",
            {
                "address": "s@acme.test",
                "imap": {"host": "imap.example.com\x00", "username": "u", "password": "p"},
            },
            "imap.host",
        ),
        (
            "/v1/mailboxes",
            {
                "address": "s@acme.test",
                "imap": {"host": "127.0.0.1", "username": "u", "password": "p"},
            },
            "imap.host",
        ),
        (
            "/v1/mailboxes",
            {
                "address": "s@acme.test",
                "imap": {"host": "[::ffff:10.0.0.1]", "username": "u", "password": "p"},
            },
            "imap.host",
        ),
        (
            "/v1/mailboxes",
            {
                "address": "s@acme.test",
                "imap": {"host": "imap.example.com", "username": "u\r\nA1 LOGOUT", "password": "p"},
            },
            "imap.username",
        ),
    ],
)
async def test_control_and_bidi_characters_are_refused_naming_the_field(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    async with api.client() as client:
        await verified_domain(client, "acme.test")
        response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    fields = {item["field"] for item in problem.get("errors", [])} or {
        problem["detail"].split(":", 1)[0]
    }
    assert field in fields, problem


async def test_a_hostile_attachment_name_is_refused(api: Api) -> None:
    async with api.client() as client:
        ticket = await create(client)
        response = await client.post(
            f"/v1/tickets/{ticket['id']}/messages",
            json={
                "body": "x",
                "attachments": [{"filename": "invoice\u202efdp.exe", "content_base64": "YQ=="}],
            },
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "attachments.0.filename"


async def test_intake_stays_ready_without_a_broker_and_reports_kafka_degraded(api: Api) -> None:
    # The app runs without its lifespan: the producer never connected, so its ping fails.
    async with api.client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["kafka"].startswith("degraded: ")
