"""Receiving mail: store the raw bytes durably first, once per tenant, before answering."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from helpline_intake.domain.directory import Mailbox, base_address
from helpline_intake.domain.domains import domain_of
from helpline_intake.domain.email.threading import normalize_message_id
from helpline_intake.domain.inbound import PENDING, InboundRecord, dedup_key
from helpline_intake.domain.model import new_id
from helpline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from helpline_shared.runtime.db import utcnow

UnitOfWorkFactory = Callable[[], IntakeUnitOfWork]

# Headers each hop adds: left out of the content fingerprint so two deliveries of one mail match.
_TRANSPORT_HEADERS = frozenset(
    {
        "received",
        "delivered-to",
        "x-original-to",
        "return-path",
        "x-received",
        "dkim-signature",
        "arc-seal",
        "arc-message-signature",
        "arc-authentication-results",
        "authentication-results",
        "x-envelope-to",
        "envelope-to",
    }
)


@dataclass(frozen=True)
class Stored:
    """A mail stored for one tenant (``new`` is False when it was a duplicate delivery)."""

    inbound_id: str
    tenant_id: str
    new: bool


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID of raw mail, read leniently (never raises)."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:256_000])
        return normalize_message_id(str(headers.get("message-id") or ""))
    except Exception:  # noqa: BLE001 - no readable Message-ID: the content hash dedups
        return None


def fingerprint(raw: bytes) -> bytes:
    """The mail without its transport headers: equal for two deliveries of one mail."""
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower().decode("latin-1")
        skipping = name in _TRANSPORT_HEADERS
        if not skipping:
            kept.append(line)
    return hashlib.sha256(b"\n".join(kept)).digest() + hashlib.sha256(body).digest()


async def mailbox_for(address: str, unit_of_work: UnitOfWorkFactory) -> Mailbox | None:
    """The mailbox that takes mail for ``address`` (plus-addresses included).

    Only while the address's domain is verified by the mailbox's tenant: mailboxes made before
    domains were verified, in a domain another tenant proved, take no mail.
    """
    base = base_address(address)
    async with unit_of_work().read_only() as uow:
        mailbox = await uow.mail.resolve(base)
        if mailbox is None or not await uow.domains.verified_names(
            mailbox.tenant_id, [domain_of(base)]
        ):
            return None
        return mailbox


async def store_raw(
    raw: bytes,
    mailboxes: list[Mailbox],
    recipients: list[str],
    source: str,
    unit_of_work: UnitOfWorkFactory,
) -> list[Stored]:
    """Store the mail once per tenant among ``mailboxes``, in one transaction; then it is safe.

    A delivery is a repeat when its Message-ID (or content, without one) and its content both
    match a stored mail: a reused Message-ID with another sender or body is stored as new mail.
    """
    email_message_id = message_id_of(raw)
    content = fingerprint(raw)
    key = dedup_key(email_message_id, content)
    stored: list[Stored] = []
    first_per_tenant: dict[str, Mailbox] = {}
    for mailbox in mailboxes:
        first_per_tenant.setdefault(mailbox.tenant_id, mailbox)
    async with unit_of_work() as uow:
        for tenant_id, mailbox in first_per_tenant.items():
            record = InboundRecord(
                id=new_id(),
                tenant_id=tenant_id,
                mailbox=mailbox.address,
                dedup_key=key,
                email_message_id=email_message_id,
                recipients=[address.lower() for address in recipients][:100],
                source=source,
                size=len(raw),
                status=PENDING,
                reason=None,
                ticket_id=None,
                received_at=utcnow(),
                content_sha256=hashlib.sha256(content).hexdigest(),
            )
            new = await uow.mail.store_inbound(record, raw)
            stored.append(Stored(record.id, tenant_id, new))
        await uow.commit()
    return stored
