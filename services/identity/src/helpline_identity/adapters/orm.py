"""Identity's tables (SQLAlchemy Core; migrations are generated from this metadata)."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from helpline_shared.runtime.db import UtcDateTime

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(16), nullable=False),
    Column("teams", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("deactivated_at", UtcDateTime, nullable=True),
    UniqueConstraint("tenant_id", "email", name="uq_users_email"),
)

teams = Table(
    "teams",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("team_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("user_id", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    Index("ix_api_keys_tenant", "tenant_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_refresh_family", "family_id"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("signs_from", UtcDateTime, nullable=False),
    Column("retire_at", UtcDateTime, nullable=True),
)

oidc_states = Table(
    "oidc_states",
    metadata,
    Column("state", String(128), primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("nonce", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("return_to", String(2000), nullable=True),
    Column("client_state", String(128), nullable=True),
)

oidc_codes = Table(
    "oidc_codes",
    metadata,
    Column("code_sha256", String(64), primary_key=True),
    Column("client_state_sha256", String(64), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UtcDateTime, nullable=False),
    Column("tenant_id", String(64), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(320), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("source", String(64), nullable=True),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_tenant_id", "tenant_id", "id"),
    Index("ix_audit_failures", "action", "target", "at"),
    Index("ix_audit_at", "at"),
)
