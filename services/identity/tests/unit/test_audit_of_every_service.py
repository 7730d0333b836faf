"""Denials of every service reach identity's log and are found by outcome; identity audits its
own refused credentials and denials with the permission that was lacking."""

from fastapi import Request
from identity_support import IdentityApi, bearer

from helpline_identity.service_layer import audit
from helpline_shared.envelope import from_record, to_record
from helpline_shared.runtime.credentials import Principal, audit_record


async def record(
    identity: IdentityApi,
    database: tuple,
    principal: Principal | None,
    action: str,
    outcome: str,
    service: str = "routing",
) -> None:
    unit_of_work, _engine = database
    request = Request(
        {
            "type": "http",
            "method": "PUT",
            "path": "/v1/agents/a-1/presence",
            "headers": [],
            "client": ("198.51.100.9", 1),
        }
    )
    event = audit_record(
        principal,
        action,
        service=service,
        request=request,
        target="/v1/agents/a-1/presence",
        outcome=outcome,
    )  # type: ignore[arg-type]
    wire = to_record(event, source=f"/helpline/{service}")
    await audit.on_audit_recorded(from_record(dict(wire.headers), wire.value), unit_of_work())


async def test_denials_of_every_service_are_listed_by_outcome(
    identity: IdentityApi, database: tuple
) -> None:
    agent = Principal(kind="person", tenant_id="acme", user_id="u-ann", role="agent")
    await record(identity, database, agent, "agents.manage", "denied")
    await record(identity, database, agent, "agents.presence", "ok")
    denied = (
        await identity.client.get(
            "/v1/audit", params={"outcome": "denied"}, headers=bearer(identity.admin)
        )
    ).json()["entries"]
    assert [
        (e["actor"], e["action"], e["target"], e["source"], e["detail"]["service"]) for e in denied
    ] == [("user:u-ann", "agents.manage", "/v1/agents/a-1/presence", "198.51.100.9", "routing")]
    bad = await identity.client.get(
        "/v1/audit", params={"outcome": "maybe"}, headers=bearer(identity.admin)
    )
    assert bad.status_code == 422


async def test_an_anonymous_refusal_is_kept_under_no_tenant(
    identity: IdentityApi, database: tuple
) -> None:
    unit_of_work, _engine = database
    await record(identity, database, None, "agents.presence", "failed")
    async with unit_of_work() as uow:
        [entry] = await uow.audit.search("-", limit=10)
    assert (entry.actor, entry.outcome, entry.source) == ("anonymous", "failed", "198.51.100.9")
    mine = (
        await identity.client.get(
            "/v1/audit", params={"actor": "anonymous"}, headers=bearer(identity.admin)
        )
    ).json()["entries"]
    assert mine == []


async def test_identity_audits_a_refused_credential_and_names_the_lacking_permission(
    identity: IdentityApi, database: tuple
) -> None:
    unit_of_work, _engine = database
    refused = await identity.client.get("/v1/users", headers=bearer("hlk_not-a-key"))
    assert refused.status_code == 401
    agent = await identity.create_user("ann@acme.test")
    token = await identity.login("acme", agent["email"])
    denied = await identity.client.post(
        "/v1/api-keys", headers=bearer(token), json={"name": "mine", "scopes": ["admin"]}
    )
    assert denied.status_code == 403
    async with unit_of_work() as uow:
        [failure] = await uow.audit.search(None, limit=10, action="credential.refused")
    assert (failure.actor, failure.outcome, failure.target, failure.detail["permission"]) == (
        "anonymous",
        "failed",
        "GET /v1/users",
        "users.read",
    )
    [denial] = (
        await identity.client.get(
            "/v1/audit", params={"outcome": "denied"}, headers=bearer(identity.admin)
        )
    ).json()["entries"]
    assert (denial["actor"], denial["action"], denial["detail"]["permission"]) == (
        f"user:{agent['user_id']}",
        "permission.denied",
        "api_keys.manage",
    )
