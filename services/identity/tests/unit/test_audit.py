"""The audit log: filters, cursor pagination, retention."""

from datetime import timedelta

from fastapi import Request
from identity_support import IdentityApi, bearer

from helpline_identity.service_layer import audit
from helpline_shared.envelope import from_record, to_record
from helpline_shared.runtime.credentials import Principal, audit_record


async def test_filters_by_actor_action_target_and_time(identity: IdentityApi) -> None:
    user = await identity.create_user("ann@acme.test")
    start = identity.clock()
    identity.clock.advance(minutes=5)
    key = await identity.create_key("tickets:read")
    await identity.client.delete(f"/v1/api-keys/{key['id']}", headers=bearer(identity.admin))
    get = identity.client.get
    by_action = (
        await get("/v1/audit", params={"action": "api_key.revoke"}, headers=bearer(identity.admin))
    ).json()["entries"]
    assert [e["target"] for e in by_action] == [f"api_key:{key['id']}"]
    assert by_action[0]["request_id"] and by_action[0]["actor"].startswith("user:")
    by_target = (
        await get(
            "/v1/audit",
            params={"target": f"user:{user['user_id']}"},
            headers=bearer(identity.admin),
        )
    ).json()["entries"]
    assert [e["action"] for e in by_target] == ["user.create"]
    later = (
        await get(
            "/v1/audit",
            params={"since": (start + timedelta(minutes=1)).isoformat()},
            headers=bearer(identity.admin),
        )
    ).json()["entries"]
    assert [e["action"] for e in later] == ["api_key.revoke", "api_key.create"]
    actor = by_action[0]["actor"]
    by_actor = (
        await get("/v1/audit", params={"actor": actor}, headers=bearer(identity.admin))
    ).json()["entries"]
    assert {e["actor"] for e in by_actor} == {actor} and len(by_actor) >= 3


async def test_pages_with_a_cursor_without_gaps_or_repeats(identity: IdentityApi) -> None:
    for number in range(5):
        await identity.create_user(f"user{number}@acme.test")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await identity.client.get("/v1/audit", params=params, headers=bearer(identity.admin))
        ).json()
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == sorted(set(seen), reverse=True) and len(seen) >= 8
    bad = await identity.client.get(
        "/v1/audit", params={"cursor": "!!"}, headers=bearer(identity.admin)
    )
    assert bad.status_code == 400


async def test_another_tenants_entries_are_not_shown(identity: IdentityApi) -> None:
    await identity.create_tenant("other", admin_email="root@other.test")
    other = await identity.login("other", "root@other.test")
    entries = (await identity.client.get("/v1/audit", headers=bearer(other))).json()["entries"]
    assert entries and all(e["target"] != "tenant:acme" for e in entries)
    assert {e["action"] for e in entries} == {"tenant.create", "user.create", "login"}


async def test_retention_purges_old_entries(identity: IdentityApi, database: tuple) -> None:
    unit_of_work, _engine = database
    removed = await audit.purge(unit_of_work(), identity.clock() + timedelta(seconds=1))
    assert removed >= 3
    entries = (await identity.client.get("/v1/audit", headers=bearer(identity.admin))).json()[
        "entries"
    ]
    assert entries == []


async def test_another_services_audit_record_is_kept_once(
    identity: IdentityApi, database: tuple
) -> None:
    unit_of_work, _engine = database
    principal = Principal(
        kind="integration", tenant_id="acme", credential_id="k1", scopes=frozenset({"tickets:read"})
    )
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/v1/tickets",
            "headers": [(b"x-request-id", b"req-42")],
            "client": ("198.51.100.4", 1),
        }
    )
    event = audit_record(
        principal,
        "permission.denied",
        service="intake",
        request=request,
        target="POST /v1/tickets",
        outcome="denied",
        scope="tickets:write",
    )
    record = to_record(event, source="/helpline/intake")
    envelope = from_record(dict(record.headers), record.value)
    assert record.topic == "helpline.audit" and record.key == b"acme"
    for _ in range(2):  # redelivered: kept once
        await audit.on_audit_recorded(envelope, unit_of_work())
    entries = (
        await identity.client.get(
            "/v1/audit", params={"action": "permission.denied"}, headers=bearer(identity.admin)
        )
    ).json()["entries"]
    assert len(entries) == 1
    assert entries[0] | {"id": 0, "at": ""} == {
        "id": 0,
        "at": "",
        "actor": "api_key:k1",
        "action": "permission.denied",
        "target": "POST /v1/tickets",
        "outcome": "denied",
        "request_id": "req-42",
        "source": "198.51.100.4",
        "detail": {"scope": "tickets:write", "service": "intake"},
    }
