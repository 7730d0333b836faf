"""Sign-in through an OpenID Connect provider: authorization code with PKCE.

Authlib builds the protocol messages (RFC 6749 grant URI and token request, RFC 7636 S256
challenge); httpx carries them (Authlib's own httpx client is deprecated in favour of httpx2);
PyJWT checks the ID token against the provider's JWKS.
"""

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from helpline_identity.config import OidcProvider
from helpline_identity.domain.errors import InvalidCredentials
from helpline_identity.domain.model import ROLES, Role


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, and what to remember until it comes back."""

    url: str
    state: str
    code_verifier: str
    nonce: str


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, mapped to a tenant and role."""

    tenant_id: str
    email: str
    name: str
    role: Role


class OidcClient:
    """One configured provider: discovery, the authorization URL, the code exchange."""

    def __init__(
        self, name: str, provider: OidcProvider, http: httpx.AsyncClient | None = None
    ) -> None:
        self.name = name
        self.provider = provider
        self._http = http
        self._metadata: dict[str, Any] | None = None

    async def _get(self, url: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await (self._http or client).get(url)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once)."""
        if self._metadata is None:
            self._metadata = await self._get(
                self.provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
            )
        return self._metadata

    async def authorization(self) -> Authorization:
        """A fresh authorization request with state, nonce and a PKCE verifier."""
        metadata = await self.metadata()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        url = prepare_grant_uri(
            metadata["authorization_endpoint"],
            self.provider.client_id,
            "code",
            redirect_uri=self.provider.redirect_uri,
            scope=self.provider.scope,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return Authorization(url, state, verifier, nonce)

    async def exchange(self, code: str, code_verifier: str, nonce: str) -> Identity:
        """Trade the code for tokens, verify the ID token, map its claims."""
        metadata = await self.metadata()
        try:
            body = prepare_token_request(
                "authorization_code",
                code=code,
                redirect_uri=self.provider.redirect_uri,
                code_verifier=code_verifier,
                client_id=self.provider.client_id,
            )
            secret = self.provider.client_secret.get_secret_value()
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await (self._http or client).post(
                    metadata["token_endpoint"],
                    content=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    auth=httpx.BasicAuth(self.provider.client_id, secret)
                    if secret
                    else httpx.USE_CLIENT_DEFAULT,
                )
                response.raise_for_status()
                token = response.json()
            keys = jwt.PyJWKSet.from_dict(await self._get(metadata["jwks_uri"]))
            header = jwt.get_unverified_header(token["id_token"])
            key = next((k for k in keys.keys if k.key_id == header.get("kid")), None)
            if key is None:
                raise InvalidCredentials("the ID token's key is not in the provider's JWKS")
            claims = jwt.decode(
                token["id_token"],
                key,
                algorithms=[header.get("alg", "RS256")],
                audience=self.provider.client_id,
                issuer=metadata["issuer"],
            )
        except (httpx.HTTPError, jwt.PyJWTError, KeyError, ValueError) as error:
            raise InvalidCredentials(f"the provider's answer was refused: {error}") from error
        if claims.get("nonce") != nonce:
            raise InvalidCredentials("the ID token's nonce does not match")
        return map_claims(self.provider, claims)


def map_claims(provider: OidcProvider, claims: dict[str, Any]) -> Identity:
    """Tenant and role from the provider's claims, as the provider's settings say."""
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is False:
        raise InvalidCredentials("the provider gave no verified email")
    tenant = provider.tenant or claims.get(provider.tenant_claim)
    if not tenant:
        raise InvalidCredentials(f"the provider gave no {provider.tenant_claim!r} claim")
    values = claims.get(provider.role_claim, [])
    values = [values] if isinstance(values, str) else list(values or [])
    mapped = {provider.role_map[value] for value in values if value in provider.role_map}
    role = next((role for role in ROLES if role in mapped), provider.default_role)
    if role not in ROLES:
        raise InvalidCredentials("no role maps from the provider's claims")
    return Identity(str(tenant), email, str(claims.get("name") or email), role)
