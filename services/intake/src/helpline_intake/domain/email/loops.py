"""Mail no human wrote: auto-replies (recorded, never answered) and bounces."""

from email.utils import parseaddr

from helpline_intake.domain.email.message import InboundEmail

_NO_REPLY_LOCALPARTS = frozenset({"noreply", "no-reply", "do-not-reply", "donotreply"})
_ROBOT_LOCALPARTS = _NO_REPLY_LOCALPARTS | {"mailer-daemon", "postmaster"}
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})


def is_auto_reply(mail: InboundEmail) -> bool:
    """Out-of-office, vacation, list and robot mail, by the headers RFC 3834 and MTAs set."""
    headers = mail.headers
    auto_submitted = headers.get("auto-submitted", "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if headers.get("precedence", "").strip().lower() in _BULK_PRECEDENCE:
        return True
    if "x-autoreply" in headers or "x-autorespond" in headers:
        return True
    # Exchange marks its own automatic replies this way (values: OOF, AutoReply, All, ...).
    if "x-auto-response-suppress" in headers and headers.get("x-auto-response-suppress"):
        return True
    if mail.bounce is not None:
        return True
    sender = (mail.from_address or headers.get("return-path", "")).strip("<> ").lower()
    local = sender.split("@", 1)[0]
    return local in _ROBOT_LOCALPARTS and _reply_to_person(mail) is None


def _reply_to_person(mail: InboundEmail) -> tuple[str, str | None] | None:
    # A web form or monitor sends from a no-reply address on behalf of the Reply-To person.
    if (mail.from_address or "").split("@", 1)[0] not in _NO_REPLY_LOCALPARTS:
        return None
    name, address = parseaddr(mail.headers.get("reply-to", ""))
    address = address.strip().lower()
    if "@" not in address or address.split("@", 1)[0] in _ROBOT_LOCALPARTS:
        return None
    return address, (name or None)


def requester_of(mail: InboundEmail) -> tuple[str | None, str | None]:
    """Address and name a new ticket is for: a no-reply sender's Reply-To person, else From."""
    return _reply_to_person(mail) or (mail.from_address, mail.from_name)
