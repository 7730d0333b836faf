"""Mail no human wrote: auto-replies (recorded, never answered) and bounces."""

from helpline_intake.domain.email.message import InboundEmail

_ROBOT_LOCALPARTS = frozenset({"mailer-daemon", "postmaster", "noreply", "no-reply",
                               "do-not-reply", "donotreply"})
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
    return local in _ROBOT_LOCALPARTS
