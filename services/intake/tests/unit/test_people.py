"""Intake keeps the tenant's people as identity announces them, and tells who wrote a mail."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

from helpline_intake.domain.people import Person, mail_author, verified_user
from helpline_intake.service_layer import handlers
from helpline_intake.testing import intake_on_sqlite
from helpline_shared.envelope import Envelope
from helpline_shared.events import TenantDeleted, UserCreated, UserDeactivated, UserUpdated
from helpline_shared.reply_tokens import reply_token

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ADA = uuid.uuid4().hex
SECRET = "s3cret"


def envelope(
    event: UserCreated | UserUpdated | UserDeactivated | TenantDeleted, event_id: str | None = None
) -> Envelope:
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source="/helpline/identity",
        type=event.event_type,
        time=NOW,
        subject=event.ticket_id,
        event=event,
    )


async def test_people_follow_identitys_events_once_each(tmp_path: Path) -> None:
    async with intake_on_sqlite(tmp_path) as intake:
        created = envelope(
            UserCreated(
                tenant_id="acme",
                occurred_at=NOW,
                user_id=ADA,
                name="Ada",
                email="Ada@Acme.example",
                role="agent",
            )
        )
        await handlers.on_event(created, intake.unit_of_work())
        async with intake.unit_of_work() as uow:
            first = await uow.people.by_email("acme", "ada@acme.example")
            elsewhere = await uow.people.by_email("globex", "ada@acme.example")
        await handlers.on_event(
            envelope(
                UserUpdated(
                    tenant_id="acme",
                    occurred_at=NOW,
                    user_id=ADA,
                    name="Ada L.",
                    email="ada.l@acme.example",
                    role="lead",
                )
            ),
            intake.unit_of_work(),
        )
        await handlers.on_event(
            envelope(UserDeactivated(tenant_id="acme", occurred_at=NOW, user_id=ADA)),
            intake.unit_of_work(),
        )
        # A redelivery of the creation must not bring the deactivated user back.
        await handlers.on_event(created, intake.unit_of_work())
        async with intake.unit_of_work() as uow:
            old = await uow.people.by_email("acme", "ada@acme.example")
            renamed = await uow.people.by_email("acme", "ada.l@acme.example")
        await handlers.on_event(
            envelope(TenantDeleted(tenant_id="acme", occurred_at=NOW)), intake.unit_of_work()
        )
        async with intake.unit_of_work() as uow:
            deleted = await uow.people.by_email("acme", "ada.l@acme.example")
    assert first == Person("acme", ADA, "ada@acme.example", "Ada", "agent", True)
    assert elsewhere is None and old is None and deleted is None
    assert renamed == Person("acme", ADA, "ada.l@acme.example", "Ada L.", "lead", False)


def test_only_a_token_for_the_ticket_names_its_user() -> None:
    token = reply_token(SECRET, "acme", "t-1", ADA)
    assert verified_user(SECRET, [token], "acme", ["t-0", "t-1"]) == ADA
    assert verified_user(SECRET, [token], "acme", ["t-2"]) is None
    assert verified_user(SECRET, [token], "globex", ["t-1"]) is None
    assert verified_user("other", [token], "acme", ["t-1"]) is None
    assert verified_user(None, [token], "acme", ["t-1"]) is None


def test_who_wrote_a_mail_on_a_ticket() -> None:
    ada = Person("acme", ADA, "ada@acme.example", "Ada", "agent")
    gone = Person("acme", ADA, "ada@acme.example", "Ada", "agent", active=False)
    requester = "cy@customer.example"

    def kind(sender: Person | None, address: str, token_user: str | None) -> str:
        return mail_author(
            sender=sender, sender_address=address, token_user=token_user, requester_email=requester
        ).kind

    assert kind(ada, "ada@acme.example", ADA) == "agent"
    assert kind(ada, "ada@acme.example", str(uuid.UUID(ADA))) == "agent"
    assert kind(ada, "ada@acme.example", None) == "unverified"
    assert kind(ada, "ada@acme.example", uuid.uuid4().hex) == "unverified"
    assert kind(gone, "ada@acme.example", ADA) == "unverified"
    assert kind(None, "mallory@evil.example", ADA) == "unverified"
    assert kind(None, requester, None) == "customer"
    # A person who is this ticket's customer writes as the customer without a token.
    assert kind(Person("acme", ADA, requester, "Cy", "agent"), requester, None) == "customer"
