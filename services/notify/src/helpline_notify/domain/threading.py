"""Email threading rules (RFC 5322 3.6.4) and the headers that mark system mail (RFC 3834)."""

MAX_REFERENCES = 20
"""References kept: the thread's first message and the latest ones (RFC 5322 asks for both)."""


def outbound_message_id(notification_id: str, domain: str) -> str:
    """A unique Message-ID under ``domain``, stable across retries of one notification."""
    return f"<{notification_id}@{domain}>"


def domain_of(address: str | None, fallback: str) -> str:
    """The domain of a mailbox address, or ``fallback`` when none is known."""
    if address and "@" in address:
        return address.rsplit("@", 1)[1].strip(" >").lower() or fallback
    return fallback


def references(thread: tuple[str, ...]) -> tuple[str, ...]:
    """The ``References`` of a reply into ``thread``: its root and its latest messages."""
    if len(thread) <= MAX_REFERENCES:
        return thread
    return (thread[0], *thread[-(MAX_REFERENCES - 1) :])


HUMAN = "no"
"""``Auto-Submitted: no`` (RFC 3834 5): a person wrote the mail; the header is then left out."""


def thread_headers(
    message_id: str,
    thread: tuple[str, ...],
    *,
    acknowledgement: bool,
    reply_to: str | None,
    automatic: bool = True,
) -> dict[str, str]:
    """Message-ID, threading and auto-submission headers of one outbound mail in ``thread``."""
    headers = {
        "Message-ID": message_id,
        # RFC 3834 5: auto-replied answers a message; auto-generated is any other system mail.
        "Auto-Submitted": (
            HUMAN if not automatic else "auto-replied" if acknowledgement else "auto-generated"
        ),
    }
    if thread:
        headers["In-Reply-To"] = thread[-1]
        headers["References"] = " ".join(references(thread))
    if reply_to:
        headers["Reply-To"] = reply_to
    return headers
