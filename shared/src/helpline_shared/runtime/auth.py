"""Bearer tokens scoped to one tenant, verifiable by every service without a shared database.

A token is ``hl_<payload>.<signature>``: the payload is base64url JSON ``{"tenant", "scopes"}``
and the signature an HMAC-SHA256 over it with the deployment's token secret.
"""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ALL_SCOPES = ("tickets:read", "tickets:write", "admin")
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant and what the token allows."""

    tenant_id: str
    scopes: frozenset[str]


class InvalidToken(Exception):
    """A token that is malformed, or not signed with this deployment's secret."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(payload: str, secret: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue_token(tenant_id: str, secret: str, scopes: tuple[str, ...] = ALL_SCOPES) -> str:
    """Issue a token for ``tenant_id`` with ``scopes``."""
    payload = _b64(json.dumps({"tenant": tenant_id, "scopes": list(scopes)}).encode())
    return f"hl_{payload}.{_sign(payload, secret)}"


def verify_token(token: str, secret: str) -> Principal:
    """Return the token's principal, or raise ``InvalidToken``."""
    # Headers reach us decoded as Latin-1: a non-ASCII byte is a malformed token, not a 500
    # (``compare_digest`` refuses non-ASCII text).
    if (not token.isascii() or len(token) > MAX_TOKEN_LENGTH or not token.startswith("hl_")
            or token.count(".") != 1):
        raise InvalidToken("not a Helpline token")
    payload, signature = token[3:].split(".")
    if not hmac.compare_digest(signature.encode(), _sign(payload, secret).encode()):
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return Principal(tenant_id=str(claims["tenant"]), scopes=frozenset(claims["scopes"]))
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidToken("unreadable claims") from error


_bearer = HTTPBearer(auto_error=False)


def require_scope(scope: str) -> Any:
    """A FastAPI dependency: the caller's principal, which must hold ``scope``.

    Typed ``Any`` because it is used as a parameter default (``principal: Principal = ...``).
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        secret: str = request.app.state.token_secret
        try:
            principal = verify_token(credentials.credentials, secret)
        except InvalidToken as error:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid token: {error}",
                                headers={"WWW-Authenticate": "Bearer"}) from error
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the token lacks scope {scope!r}")
        return principal

    return Depends(dependency)


if __name__ == "__main__":
    import argparse
    import os

    parser = argparse.ArgumentParser(description="Issue a Helpline bearer token")
    parser.add_argument("tenant")
    parser.add_argument("--scope", action="append", dest="scopes")
    arguments = parser.parse_args()
    secret = os.environ.get("HELPLINE_TOKEN_SECRET", "helpline-dev-secret-change-me")
    print(issue_token(arguments.tenant, secret, tuple(arguments.scopes or ALL_SCOPES)))
