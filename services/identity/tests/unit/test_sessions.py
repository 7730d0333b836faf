"""Password sign-in: JWTs verifiable with the JWKS, rotating refresh tokens, throttled failures."""

import time

import jwt
from identity_support import ISSUER, PASSWORD, IdentityApi, bearer


async def test_login_gives_a_jwt_that_verifies_with_the_published_key(
    identity: IdentityApi,
) -> None:
    await identity.create_user("ann@acme.test", teams=())
    response = await identity.client.post(
        "/v1/login", json={"tenant": "acme", "email": "ANN@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"].startswith("hlr_")
    header = jwt.get_unverified_header(body["access_token"])
    jwks = (await identity.client.get("/.well-known/jwks.json")).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert "d" not in key, "the JWKS must never carry a private part"
    claims = jwt.decode(
        body["access_token"],
        jwt.PyJWK(key),
        algorithms=["EdDSA"],
        audience="helpline",
        issuer=ISSUER,
    )
    assert claims["tenant"] == "acme" and claims["role"] == "agent"
    assert claims["exp"] - time.time() <= 15 * 60
    assert body["expires_in"] <= 15 * 60


async def test_a_wrong_password_is_401_audited_and_the_sixth_try_is_throttled(
    identity: IdentityApi,
) -> None:
    await identity.create_user("bob@acme.test")
    wrong = {"tenant": "acme", "email": "bob@acme.test", "password": "not the password"}
    for _ in range(5):
        response = await identity.client.post("/v1/login", json=wrong)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
    locked = await identity.client.post("/v1/login", json={**wrong, "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    identity.clock.advance(minutes=16)
    assert (
        await identity.client.post("/v1/login", json={**wrong, "password": PASSWORD})
    ).status_code == 200
    audit = (
        await identity.client.get(
            "/v1/audit", params={"action": "login"}, headers=bearer(identity.admin)
        )
    ).json()["entries"]
    attempts = [e for e in audit if e["target"] == "acme/bob@acme.test"]
    assert [e["outcome"] for e in attempts] == ["ok", "denied", *["failed"] * 5]
    assert attempts[0]["actor"].startswith("user:") and attempts[1]["actor"] == "anonymous"
    assert all(e["source"] == "203.0.113.7" for e in audit)


async def test_an_unknown_account_fails_like_a_wrong_password(identity: IdentityApi) -> None:
    response = await identity.client.post(
        "/v1/login", json={"tenant": "acme", "email": "nobody@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong tenant, email or password"


async def test_a_refresh_token_rotates_and_its_reuse_revokes_the_family(
    identity: IdentityApi,
) -> None:
    first = (
        await identity.client.post(
            "/v1/login", json={"tenant": "acme", "email": "root@acme.test", "password": PASSWORD}
        )
    ).json()
    second = await identity.client.post(
        "/v1/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    rotated = second.json()["refresh_token"]
    assert rotated != first["refresh_token"]
    reused = await identity.client.post(
        "/v1/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    # The thief's replay killed the family: the legitimate newer token is refused too.
    assert (
        await identity.client.post("/v1/refresh", json={"refresh_token": rotated})
    ).status_code == 401


async def test_logout_revokes_the_refresh_token(identity: IdentityApi) -> None:
    tokens = (
        await identity.client.post(
            "/v1/login", json={"tenant": "acme", "email": "root@acme.test", "password": PASSWORD}
        )
    ).json()
    assert (
        await identity.client.post("/v1/logout", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 204
    assert (
        await identity.client.post("/v1/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401


async def test_a_deactivated_persons_token_and_refresh_stop_working(identity: IdentityApi) -> None:
    user = await identity.create_user("cy@acme.test")
    tokens = (
        await identity.client.post(
            "/v1/login", json={"tenant": "acme", "email": "cy@acme.test", "password": PASSWORD}
        )
    ).json()
    assert (
        await identity.client.get("/v1/me", headers=bearer(tokens["access_token"]))
    ).status_code == 200
    patched = await identity.client.patch(
        f"/v1/users/{user['user_id']}", json={"active": False}, headers=bearer(identity.admin)
    )
    assert patched.status_code == 200 and patched.json()["active"] is False
    assert (
        await identity.client.get("/v1/me", headers=bearer(tokens["access_token"]))
    ).status_code == 401
    assert (
        await identity.client.post("/v1/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401


async def test_a_token_of_another_issuer_is_refused(identity: IdentityApi) -> None:
    forged = jwt.encode(
        {"sub": "x", "tenant": "acme", "role": "admin"},
        "s" * 32,
        algorithm="HS256",
        headers={"kid": "nope"},
    )
    response = await identity.client.get("/v1/users", headers=bearer(forged))
    assert response.status_code == 401
