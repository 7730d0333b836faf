"""Tenants, users and teams: create, change, list; each write audited and published."""

import uuid
from dataclasses import dataclass, replace

from helpline_identity.adapters.crypto import hash_password
from helpline_identity.domain.errors import EmailTaken, NotFound, TeamExists, TenantExists
from helpline_identity.domain.model import Role, Team, Tenant, User
from helpline_identity.domain.permissions import may_see_team, may_see_user
from helpline_identity.service_layer.context import Context, active_tenant, permit
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork
from helpline_shared.events import (
    TeamChanged,
    TenantCreated,
    TenantDeleted,
    TenantSuspended,
    UserCreated,
    UserDeactivated,
    UserUpdated,
)


@dataclass(frozen=True)
class FirstAdmin:
    """The admin a tenant is created with, so someone can manage it."""

    name: str
    email: str
    password: str | None


async def create_tenant(
    uow: IdentityUnitOfWork,
    context: Context,
    tenant_id: str,
    name: str,
    admin: FirstAdmin | None = None,
) -> Tenant:
    """Create a tenant, with its first admin if given (operator only)."""
    permit(context, "tenants.manage", tenant_id)
    async with uow:
        if await uow.tenants.get(tenant_id) is not None:
            raise TenantExists(tenant_id)
        tenant = Tenant(tenant_id, name, "active", context.now, context.now)
        await uow.tenants.add(tenant)
        uow.publish(TenantCreated(tenant_id=tenant_id, name=name, occurred_at=context.now))
        await uow.audit.add(
            context.entry("tenant.create", tenant_id=tenant_id, target=f"tenant:{tenant_id}")
        )
        if admin is not None:
            await add_user(
                uow,
                context,
                User(
                    tenant_id,
                    uuid.uuid4().hex,
                    admin.name,
                    admin.email.lower(),
                    "admin",
                    password_hash=hash_password(admin.password) if admin.password else None,
                ),
            )
        await uow.commit()
    return tenant


async def list_tenants(uow: IdentityUnitOfWork, context: Context) -> list[Tenant]:
    """Every tenant not deleted (operator only)."""
    permit(context, "tenants.manage", "*")
    async with uow:
        return await uow.tenants.all_active()


async def set_tenant_state(
    uow: IdentityUnitOfWork, context: Context, tenant_id: str, state: str
) -> Tenant:
    """Suspend, resume (``active``) or delete a tenant (operator only)."""
    permit(context, "tenants.manage", tenant_id)
    async with uow:
        tenant = await uow.tenants.get(tenant_id)
        if tenant is None or tenant.state == "deleted":
            raise NotFound("tenant not found")
        tenant = replace(tenant, state=state, changed_at=context.now)  # type: ignore[arg-type]
        await uow.tenants.save(tenant)
        if state == "suspended":
            uow.publish(TenantSuspended(tenant_id=tenant_id, occurred_at=context.now))
        elif state == "deleted":
            await uow.tenants.purge_contents(tenant_id)
            uow.publish(TenantDeleted(tenant_id=tenant_id, occurred_at=context.now))
        await uow.audit.add(
            context.entry(f"tenant.{state}", tenant_id=tenant_id, target=f"tenant:{tenant_id}")
        )
        await uow.commit()
    return tenant


def _user_event(user: User, context: Context) -> UserUpdated:
    return UserUpdated(
        tenant_id=user.tenant_id,
        user_id=user.user_id,
        name=user.name,
        email=user.email,
        role=user.role,
        teams=user.teams,
        active=user.active,
        occurred_at=context.now,
    )


async def create_user(
    uow: IdentityUnitOfWork,
    context: Context,
    tenant_id: str,
    *,
    name: str,
    email: str,
    role: Role,
    teams: tuple[str, ...],
    password: str | None,
) -> User:
    """Create a person in the tenant (admin)."""
    permit(context, "users.manage", tenant_id)
    async with uow:
        await active_tenant(uow, tenant_id)
        if await uow.users.by_email(tenant_id, email) is not None:
            raise EmailTaken(email)
        await _known_teams(uow, tenant_id, teams)
        user = User(
            tenant_id,
            uuid.uuid4().hex,
            name,
            email.lower(),
            role,
            teams,
            password_hash=hash_password(password) if password else None,
        )
        await add_user(uow, context, user)
        await uow.commit()
    return user


async def add_user(uow: IdentityUnitOfWork, context: Context, user: User) -> None:
    """Store a new person, publish ``UserCreated`` and audit it (inside ``uow``)."""
    await uow.users.add(user)
    uow.publish(
        UserCreated(
            tenant_id=user.tenant_id,
            user_id=user.user_id,
            name=user.name,
            email=user.email,
            role=user.role,
            teams=user.teams,
            occurred_at=context.now,
        )
    )
    await uow.audit.add(
        context.entry(
            "user.create", tenant_id=user.tenant_id, target=f"user:{user.user_id}", role=user.role
        )
    )


async def _known_teams(uow: IdentityUnitOfWork, tenant_id: str, teams: tuple[str, ...]) -> None:
    for team_id in teams:
        if await uow.teams.get(tenant_id, team_id) is None:
            raise NotFound(f"team {team_id} not found")


async def update_user(
    uow: IdentityUnitOfWork,
    context: Context,
    tenant_id: str,
    user_id: str,
    *,
    name: str | None = None,
    email: str | None = None,
    role: Role | None = None,
    teams: tuple[str, ...] | None = None,
    password: str | None = None,
    active: bool | None = None,
) -> User:
    """Change a person (admin); deactivating revokes their refresh tokens and keys."""
    permit(context, "users.manage", tenant_id)
    async with uow:
        await active_tenant(uow, tenant_id)
        user = await uow.users.get(tenant_id, user_id)
        if user is None:
            raise NotFound("user not found")
        if (
            email is not None
            and email.lower() != user.email
            and (await uow.users.by_email(tenant_id, email) is not None)
        ):
            raise EmailTaken(email)
        if teams is not None:
            await _known_teams(uow, tenant_id, teams)
        deactivating = active is False and user.active
        user = replace(
            user,
            name=name or user.name,
            email=(email or user.email).lower(),
            role=role or user.role,
            teams=user.teams if teams is None else teams,
            active=user.active if active is None else active,
            password_hash=hash_password(password) if password else user.password_hash,
            deactivated_at=context.now
            if deactivating
            else (None if active else user.deactivated_at),
        )
        await uow.users.save(user)
        if deactivating:
            await uow.refresh_tokens.revoke_for_user(tenant_id, user_id, context.now)
            await uow.api_keys.revoke_for_user(tenant_id, user_id, context.now)
            uow.publish(
                UserDeactivated(tenant_id=tenant_id, user_id=user_id, occurred_at=context.now)
            )
        uow.publish(_user_event(user, context))
        await uow.audit.add(
            context.entry(
                "user.deactivate" if deactivating else "user.update",
                tenant_id=tenant_id,
                target=f"user:{user_id}",
            )
        )
        await uow.commit()
    return user


async def list_users(uow: IdentityUnitOfWork, context: Context, tenant_id: str) -> list[User]:
    """The users the caller may see: all (admin, keys), their teams' (lead), themself (agent)."""
    caller = permit(context, "users.read", tenant_id)
    async with uow:
        return [
            user
            for user in await uow.users.of_tenant(tenant_id)
            if may_see_user(caller, user.user_id, user.teams)
        ]


async def get_user(uow: IdentityUnitOfWork, context: Context, tenant_id: str, user_id: str) -> User:
    """One user, if the caller may see them."""
    caller = permit(context, "users.read", tenant_id)
    async with uow:
        user = await uow.users.get(tenant_id, user_id)
    if user is None or not may_see_user(caller, user.user_id, user.teams):
        raise NotFound("user not found")
    return user


async def create_team(
    uow: IdentityUnitOfWork, context: Context, tenant_id: str, team_id: str, name: str
) -> Team:
    """Create a team (admin)."""
    permit(context, "teams.manage", tenant_id)
    async with uow:
        await active_tenant(uow, tenant_id)
        if await uow.teams.get(tenant_id, team_id) is not None:
            raise TeamExists(team_id)
        team = Team(tenant_id, team_id, name)
        await uow.teams.add(team)
        uow.publish(
            TeamChanged(tenant_id=tenant_id, team_id=team_id, name=name, occurred_at=context.now)
        )
        await uow.audit.add(
            context.entry("team.create", tenant_id=tenant_id, target=f"team:{team_id}")
        )
        await uow.commit()
    return team


async def delete_team(
    uow: IdentityUnitOfWork, context: Context, tenant_id: str, team_id: str
) -> None:
    """Delete a team and take it off its members (admin)."""
    permit(context, "teams.manage", tenant_id)
    async with uow:
        team = await uow.teams.get(tenant_id, team_id)
        if team is None:
            raise NotFound("team not found")
        for user in await uow.users.of_tenant(tenant_id):
            if team_id in user.teams:
                changed = replace(user, teams=tuple(t for t in user.teams if t != team_id))
                await uow.users.save(changed)
                uow.publish(_user_event(changed, context))
        await uow.teams.remove(team)
        uow.publish(
            TeamChanged(
                tenant_id=tenant_id,
                team_id=team_id,
                name=team.name,
                deleted=True,
                occurred_at=context.now,
            )
        )
        await uow.audit.add(
            context.entry("team.delete", tenant_id=tenant_id, target=f"team:{team_id}")
        )
        await uow.commit()


async def list_teams(uow: IdentityUnitOfWork, context: Context, tenant_id: str) -> list[Team]:
    """The teams the caller may see."""
    caller = permit(context, "teams.read", tenant_id)
    async with uow:
        return [
            team
            for team in await uow.teams.of_tenant(tenant_id)
            if may_see_team(caller, team.team_id)
        ]
