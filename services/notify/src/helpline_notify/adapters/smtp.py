"""Email out through an SMTP server (aiosmtplib)."""

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from helpline_notify.domain.errors import DeliveryAttemptFailed
from helpline_notify.domain.threading import HUMAN
from helpline_notify.service_layer.ports import OutboundEmail


def build_message(email: OutboundEmail, mail_from: str) -> EmailMessage:
    """The RFC 5322 message of ``email``: from ``mail_from`` unless it names its own sender (a
    person's reply), and marked as automatic unless a person wrote it."""
    message = EmailMessage()
    message["From"] = email.headers.get("From", mail_from)
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = email.message_id
    for name, value in email.headers.items():
        if name.lower() not in ("message-id", "auto-submitted", "from"):
            message[name] = value
    submitted = email.headers.get("Auto-Submitted", "auto-generated")
    if submitted != HUMAN:
        # RFC 3834: auto-responders must not answer; the Microsoft header says so to Exchange.
        message["Auto-Submitted"] = submitted
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    for item in email.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        if not (maintype and subtype):
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            item.data, maintype=maintype, subtype=subtype, filename=item.filename
        )
    return message


class SmtpMailer:
    """Hands each email to one SMTP server (STARTTLS when the server offers it), reusing its
    sessions: a batch of mail costs one connection and handshake per concurrent send, not one
    per email."""

    def __init__(
        self, host: str, port: int, mail_from: str, timeout: float = 15.0, max_idle: int = 4
    ) -> None:
        self._host = host
        self._port = port
        self._mail_from = mail_from
        self._timeout = timeout
        self._max_idle = max_idle
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, email: OutboundEmail) -> None:
        """Send ``email``; a 5xx answer is a permanent failure, anything else may be retried."""
        try:
            await self._send(build_message(email, self._mail_from))
        except aiosmtplib.SMTPRecipientsRefused as error:
            permanent = all(refusal.code >= 500 for refusal in error.recipients)
            codes = ", ".join(str(refusal.code) for refusal in error.recipients)
            raise DeliveryAttemptFailed(
                f"SMTP recipient refused ({codes})", permanent=permanent
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryAttemptFailed(
                f"SMTP {error.code}: {error.message}"[:500], permanent=error.code >= 500
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryAttemptFailed(f"SMTP: {type(error).__name__}: {error}"[:500]) from error

    async def _send(self, message: EmailMessage) -> None:
        while self._idle:
            session = self._idle.pop()
            if not session.is_connected:
                continue
            try:
                await session.send_message(message)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                session.close()  # the server closed an idle session: a new one is opened
                continue
            except BaseException:
                session.close()
                raise
            self._keep(session)
            return
        session = aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=self._timeout)
        await session.connect()
        try:
            await session.send_message(message)
        except BaseException:
            session.close()
            raise
        self._keep(session)

    def _keep(self, session: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self._max_idle:
            self._idle.append(session)
        else:
            session.close()

    async def aclose(self) -> None:
        """End the idle sessions."""
        idle, self._idle = self._idle, []
        for session in idle:
            try:
                await session.quit()
            except (aiosmtplib.SMTPException, OSError):
                session.close()
