"""Passwords (argon2id), random secrets and Ed25519 signing keys."""

import base64
import secrets
import uuid
from datetime import datetime
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from helpline_identity.domain.model import SigningKey
from helpline_shared.runtime.credentials import ALGORITHMS, hash_secret

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``."""
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; an account without a password costs the same time."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str) -> tuple[str, str]:
    """A 256-bit random secret with ``prefix``, and its stored hash."""
    secret = prefix + secrets.token_urlsafe(32)
    return secret, hash_secret(secret)


def new_signing_key(now: datetime, signs_from: datetime) -> SigningKey:
    """A fresh Ed25519 key pair, published from ``now``."""
    private = Ed25519PrivateKey.generate()
    kid = uuid.uuid4().hex[:16]
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    jwk = {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": ALGORITHMS[0],
        "use": "sig",
        "kid": kid,
        "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
    }
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKey(
        kid=kid, private_pem=pem, public_jwk=jwk, created_at=now, signs_from=signs_from
    )


def sign(key: SigningKey, claims: dict[str, Any]) -> str:
    """A JWT of ``claims`` signed with ``key``, its ``kid`` in the header."""
    private = serialization.load_pem_private_key(key.private_pem, password=None)
    return jwt.encode(claims, private, algorithm=ALGORITHMS[0], headers={"kid": key.kid})  # type: ignore[arg-type]
