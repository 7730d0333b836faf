"""The SMTP/LMTP server an MTA delivers to: known mailboxes only, size-limited, store first."""

import asyncio
import logging

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from opentelemetry.trace import NoOpTracer, SpanKind, Tracer

from helpline_intake.domain.directory import Mailbox
from helpline_intake.service_layer.email_intake import MailProcessing, process_inbound
from helpline_intake.service_layer.inbound import mailbox_for, store_raw
from helpline_shared.inputs import hide_addresses
from helpline_shared.runtime.service import BackgroundLoop

log = logging.getLogger(__name__)


class EnvelopeAddressFilter(logging.Filter):
    """On aiosmtpd's logger ("mail.log"): below WARNING dropped, addresses in the rest hidden.

    The library logs every command line, MAIL FROM and RCPT TO included, at INFO: personal data
    by the thousand in intake's log. Its warnings (bogus commands, session errors) stay useful.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep warnings and errors, with every address replaced."""
        if record.levelno < logging.WARNING:
            return False
        message = record.getMessage()
        if "@" in message:
            record.msg, record.args = hide_addresses(message), None
        return True


def quiet_smtp_library() -> None:
    """Install ``EnvelopeAddressFilter`` on aiosmtpd's logger (once)."""
    library = logging.getLogger("mail.log")
    if not any(isinstance(item, EnvelopeAddressFilter) for item in library.filters):
        library.addFilter(EnvelopeAddressFilter())


class IntakeHandler:
    """aiosmtpd handler: 550 for unknown recipients, 250 only once the mail is stored."""

    def __init__(self, processing: MailProcessing, tracer: Tracer | None = None) -> None:
        self._processing = processing
        self._tracer = tracer or NoOpTracer()
        self._mailboxes: dict[int, list[Mailbox]] = {}
        self._tasks: set[asyncio.Task[str]] = set()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept a recipient only if it is (a plus-address of) a configured mailbox."""
        try:
            mailbox = await mailbox_for(address, self._processing.unit_of_work)
        except Exception as error:  # noqa: BLE001 - a 451 makes the MTA retry
            # No traceback: database errors quote their parameters, the address among them.
            log.warning("recipient lookup failed", extra={"error_type": type(error).__name__})
            return "451 4.3.0 temporary failure, try again later"
        if mailbox is None:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        self._mailboxes.setdefault(id(envelope), []).append(mailbox)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the raw mail durably (once per tenant), answer 250, then process it."""
        # The SMTP session is the root of the ticket's trace (events carry it from the outbox).
        with self._tracer.start_as_current_span("smtp DATA", kind=SpanKind.SERVER):
            return await self._data(envelope)

    async def _data(self, envelope: Envelope) -> str:
        mailboxes = self._mailboxes.pop(id(envelope), [])
        raw = envelope.original_content or b""
        if not mailboxes:
            return "554 5.5.1 no valid recipients"
        try:
            stored = await store_raw(
                raw, mailboxes, list(envelope.rcpt_tos), "smtp", self._processing.unit_of_work
            )
        except Exception as error:  # noqa: BLE001 - a 451 makes the MTA retry
            log.warning("storing inbound mail failed", extra={"error_type": type(error).__name__})
            return "451 4.3.0 could not store the message, try again later"
        for item in stored:
            if item.new:
                task = asyncio.create_task(process_inbound(item.inbound_id, self._processing))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return "250 2.0.0 OK: stored"

    async def drain(self) -> None:
        """Wait for processing started for accepted mail."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def smtp_loop(
    processing: MailProcessing,
    *,
    host: str,
    port: int,
    max_size: int,
    lmtp: bool = False,
    tracer: Tracer | None = None,
    handler: IntakeHandler | None = None,
) -> BackgroundLoop:
    """The SMTP (or LMTP) listener as a background loop of the service.

    Tests pass their own ``handler`` to ``drain`` it: to wait for what accepted mail started.
    """
    quiet_smtp_library()
    handler = handler or IntakeHandler(processing, tracer)
    servers: list[asyncio.Server] = []
    stopped = asyncio.Event()
    # aiosmtpd answers DATA over the limit with "552 Error: Too much mail data".
    protocol = LMTP if lmtp else SMTP

    async def run() -> None:
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                lambda: protocol(
                    handler,
                    data_size_limit=max_size,
                    hostname="helpline-intake",
                    ident="Helpline intake",
                ),
                host=host,
                port=port,
            )
        except OSError as error:
            # The HTTP API stays useful without mail; the log says why mail is not taken.
            log.error("smtp server cannot listen", extra={"port": port, "error": str(error)})
            return
        servers.append(server)
        log.info("smtp listening", extra={"port": port})
        await stopped.wait()

    async def stop() -> None:
        for server in servers:
            server.close()
            await server.wait_closed()
        await handler.drain()
        stopped.set()

    return BackgroundLoop(name="smtp", run=run, stop=stop)
