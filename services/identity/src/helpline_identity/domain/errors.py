"""Identity's named errors; entrypoints map each to one HTTP status."""


class IdentityError(Exception):
    """Base of identity's domain errors."""


class NotFound(IdentityError):
    """The tenant, user, team or key does not exist (or belongs to another tenant)."""


class Conflict(IdentityError):
    """The thing exists already (an email, a team name, a tenant id)."""


class TenantExists(Conflict):
    """A tenant with that id exists."""

    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"tenant {tenant_id} exists")


class EmailTaken(Conflict):
    """Another user of the tenant has that email."""

    def __init__(self, email: str) -> None:
        super().__init__(f"a user with email {email} exists")


class TeamExists(Conflict):
    """The tenant has a team with that id."""

    def __init__(self, team_id: str) -> None:
        super().__init__(f"team {team_id} exists")


class InvalidCredentials(IdentityError):
    """Wrong email or password, unknown or expired key or token; deliberately unspecific."""


class TooManyAttempts(IdentityError):
    """Too many failed logins for one account: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


class Forbidden(IdentityError):
    """The caller's role or scopes do not allow the action."""


class TenantUnavailable(IdentityError):
    """The tenant is suspended or deleted: none of its credentials work."""


class RefreshReused(InvalidCredentials):
    """A rotated refresh token was presented again: its whole family is revoked."""


class ReturnUrlRefused(IdentityError):
    """An OIDC sign-in asked to return to a URL not on identity's allow-list."""
