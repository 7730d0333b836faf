"""Signing-key rotation: the next key is published before it signs; the old one verifies on."""

import jwt
from identity_support import OPERATOR_KEY, IdentityApi, bearer


async def kids(identity: IdentityApi) -> list[str]:
    return [k["kid"] for k in (await identity.client.get("/.well-known/jwks.json")).json()["keys"]]


async def test_rotation_publishes_first_then_signs_then_retires_the_old_key(
    identity: IdentityApi,
) -> None:
    old_token = identity.admin
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    # This API's publish lead is 0: the new key signs at once; the old one stays published.
    rotated = await identity.client.post("/v1/signing-keys/rotate", headers=bearer(OPERATOR_KEY))
    assert rotated.status_code == 201
    new_kid = rotated.json()["kid"]
    assert set(await kids(identity)) == {old_kid, new_kid}
    new_token = await identity.login("acme", "root@acme.test")
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    for token in (old_token, new_token):
        assert (await identity.client.get("/v1/me", headers=bearer(token))).status_code == 200
    identity.clock.advance(minutes=17)
    assert await kids(identity) == [new_kid]


async def test_only_the_operator_rotates(identity: IdentityApi) -> None:
    response = await identity.client.post("/v1/signing-keys/rotate", headers=bearer(identity.admin))
    assert response.status_code == 403
