"""Identity's settings: one class, read from ``HELPLINE_*`` variables."""

from pydantic import BaseModel, Field, SecretStr

from helpline_shared.runtime.settings import ServiceSettings


class OidcProvider(BaseModel):
    """An OpenID Connect provider people may sign in with, and how its claims map to ours."""

    issuer: str = Field(description="The provider's issuer URL (discovery is read from it)")
    client_id: str
    client_secret: SecretStr = SecretStr("")
    redirect_uri: str = Field(description="Identity's callback URL registered at the provider")
    tenant: str | None = Field(
        default=None, description="Every sign-in lands in this tenant (one per tenant)"
    )
    tenant_claim: str = Field(
        default="helpline_tenant", description="Claim naming the tenant when `tenant` is not set"
    )
    role_claim: str = "groups"
    role_map: dict[str, str] = Field(
        default_factory=dict,
        description="Claim value -> role (admin|lead|agent); the strongest match wins",
    )
    default_role: str | None = Field(
        default=None, description="Role when no claim value maps (None: refuse)"
    )
    auto_provision: bool = Field(default=True, description="Create the user on first sign-in")
    scope: str = "openid email profile groups"
    display_name: str | None = Field(
        default=None,
        max_length=64,
        description='Name sign-in pages show ("Sign in with <display_name>"); default: the key',
    )


class IdentitySettings(ServiceSettings):
    """Settings of the identity service."""

    http_port: int = Field(default=8084, ge=1, le=65535)
    issuer: str = Field(
        default="http://127.0.0.1:8084", description="`iss` of the access tokens identity signs"
    )
    audience: str = Field(default="helpline", description="`aud` of the access tokens")
    access_token_seconds: int = Field(
        default=600, ge=30, le=900, description="Access token lifetime (15 minutes at most)"
    )
    refresh_token_seconds: int = Field(
        default=12 * 3600, ge=60, description="Refresh token lifetime"
    )
    signing_key_publish_lead: float = Field(
        default=60,
        ge=0,
        description="Seconds a new signing key is published in the JWKS before it signs "
        "(at least the verifiers' JWKS refetch interval, 5 s)",
    )
    operator_key_sha256: SecretStr | None = Field(
        default=None,
        description="SHA-256 (hex) of the deployment operator key that manages tenants",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins per account before a lockout"
    )
    login_window_seconds: int = Field(
        default=900, ge=1, description="Window of the failed-login count"
    )
    audit_retention_days: int = Field(
        default=365, ge=1, description="Audit entries older than this are purged"
    )
    purge_interval: float = Field(
        default=3600, gt=0, description="Seconds between purges of old audit entries"
    )
    oidc_providers: dict[str, OidcProvider] = Field(
        default_factory=dict, description="OIDC providers by name (JSON object)"
    )
    oidc_return_urls: list[str] = Field(
        default_factory=list,
        description="URLs an OIDC sign-in may return a browser to with a one-time code "
        "(exactly, JSON list; e.g. the workspace's /signin/oidc/callback)",
    )
    oidc_code_seconds: int = Field(
        default=60,
        ge=5,
        le=600,
        description="Seconds a one-time code from an OIDC sign-in may be exchanged",
    )
