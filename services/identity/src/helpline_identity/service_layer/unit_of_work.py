"""Identity's unit of work: the shared one, with identity's repositories."""

from typing import Self

from helpline_identity.adapters.repository import (
    ApiKeyRepository,
    AuditRepository,
    OidcCodeRepository,
    OidcStateRepository,
    RefreshTokenRepository,
    SigningKeyRepository,
    TeamRepository,
    TenantRepository,
    UserRepository,
)
from helpline_shared.runtime.uow import SqlUnitOfWork


class IdentityUnitOfWork(SqlUnitOfWork):
    """One transaction over identity's tables, outbox and inbox."""

    tenants: TenantRepository
    users: UserRepository
    teams: TeamRepository
    api_keys: ApiKeyRepository
    refresh_tokens: RefreshTokenRepository
    signing_keys: SigningKeyRepository
    oidc_states: OidcStateRepository
    oidc_codes: OidcCodeRepository
    audit: AuditRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.tenants = TenantRepository(self.session)
        self.users = UserRepository(self.session)
        self.teams = TeamRepository(self.session)
        self.api_keys = ApiKeyRepository(self.session)
        self.refresh_tokens = RefreshTokenRepository(self.session)
        self.signing_keys = SigningKeyRepository(self.session)
        self.oidc_states = OidcStateRepository(self.session)
        self.oidc_codes = OidcCodeRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.writes_behind(self.audit)
        return self
