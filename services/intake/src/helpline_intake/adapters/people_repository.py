"""The tenant's people as identity announced them, always scoped to one tenant."""

from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline_intake.adapters.orm import people
from helpline_intake.domain.people import Person
from helpline_shared.runtime.db import dialect_insert


def _person(row: Any) -> Person:
    return Person(**row._mapping)


class PeopleRepository:
    """Reads and writes intake's copy of identity's users."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._insert = dialect_insert(session.get_bind().dialect.name)

    async def save(self, person: Person) -> None:
        """Insert or replace a person (addresses are kept lower-cased)."""
        values = {**asdict(person), "email": person.email.lower()}
        statement = self._insert(people).values(**values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[people.c.tenant_id, people.c.user_id],
                set_={name: values[name] for name in ("email", "name", "role", "active")},
            )
        )

    async def deactivate(self, tenant_id: str, user_id: str) -> None:
        """Mark a person inactive (their mail is never theirs to act with any more)."""
        await self._session.execute(
            update(people)
            .where(people.c.tenant_id == tenant_id, people.c.user_id == user_id)
            .values(active=False)
        )

    async def forget_tenant(self, tenant_id: str) -> None:
        """Forget every person of a deleted tenant."""
        await self._session.execute(delete(people).where(people.c.tenant_id == tenant_id))

    async def by_email(self, tenant_id: str, email: str) -> Person | None:
        """The tenant's person with that address; an active one first if two share it."""
        rows = await self._session.execute(
            select(people)
            .where(people.c.tenant_id == tenant_id, people.c.email == email.lower())
            .order_by(people.c.active.desc(), people.c.user_id)
            .limit(1)
        )
        row = rows.first()
        return _person(row) if row else None
