"""RFC 2920: where the server advertises PIPELINING, a mail's MAIL, RCPT and DATA go in one
write and their replies are read together; refusals are classified as one command at a time."""

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop
from aiosmtpd.controller import Controller
from test_smtp_mailer import EMAIL, free_port
from test_smtp_sessions import CountingInbox

from helpline_devstack.mailsink import advertise_pipelining
from helpline_notify.adapters import smtp
from helpline_notify.adapters.smtp import SmtpMailer
from helpline_notify.domain.errors import DeliveryAttemptFailed


class Refusing(CountingInbox):
    """Refuses senders at refused.example, recipients at refused/later.example (550/450) and
    the data of mails whose text says so (554); counts RSETs and connections; advertises
    PIPELINING if told to."""

    def __init__(self, *, pipelining: bool = True) -> None:
        super().__init__()
        self.pipelining = pipelining
        self.resets = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        return advertise_pipelining(responses) if self.pipelining else responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.endswith("@refused.example"):
            return "553 5.7.1 sender refused"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.endswith("@later.example"):
            return "450 4.2.1 try later"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if b"refuse this" in (envelope.original_content or b""):
            return "554 5.6.0 content refused"
        return await super().handle_DATA(server, session, envelope)

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.resets += 1
        return "250 OK"


def _serving(inbox: Refusing) -> Iterator[tuple[Refusing, int]]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def pipelining() -> Iterator[tuple[Refusing, int]]:
    yield from _serving(Refusing())


@pytest.fixture
def one_at_a_time() -> Iterator[tuple[Refusing, int]]:
    yield from _serving(Refusing(pipelining=False))


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which send path each plain mail took."""
    taken: list[str] = []
    for name in ("_send_pipelined", "_send_plain"):
        original = getattr(smtp, name)

        async def counting(*args: Any, _name: str = name, _original: Any = original) -> None:
            taken.append(_name)
            await _original(*args)

        monkeypatch.setattr(smtp, name, counting)
    return taken


def _mail(number: int, **changes: Any) -> Any:
    return dataclasses.replace(EMAIL, message_id=f"<n-{number}@acme.example>", **changes)


async def test_mails_are_pipelined_where_the_server_advertises_it(
    pipelining: tuple[Refusing, int], paths: list[str]
) -> None:
    inbox, port = pipelining
    mailer = SmtpMailer("127.0.0.1", port, "help@acme.example", max_sessions=2)
    dotted = _mail(99, text="a line\n.starting with a dot\n")
    await asyncio.gather(*(mailer.send(_mail(n)) for n in range(6)), mailer.send(dotted))
    await mailer.aclose()

    assert paths == ["_send_pipelined"] * 7
    assert len(inbox.messages) == 7
    assert inbox.connections <= 2
    [stuffed] = [raw for raw in inbox.messages if b"n-99" in raw]
    assert b"\r\n.starting with a dot\r\n" in stuffed  # dot-stuffed on the wire, unstuffed here


def test_mails_are_pipelined_on_the_services_event_loop_too(
    pipelining: tuple[Refusing, int], paths: list[str]
) -> None:
    # The services run on uvloop, whose transports are no asyncio.Transport: the pipelined
    # path once took that for a lost connection and every mail failed.
    inbox, port = pipelining

    async def send() -> None:
        mailer = SmtpMailer("127.0.0.1", port, "help@acme.example", max_sessions=1)
        await asyncio.gather(*(mailer.send(_mail(n)) for n in range(3)))
        await mailer.aclose()

    uvloop.run(send())

    assert paths == ["_send_pipelined"] * 3
    assert len(inbox.messages) == 3


async def test_without_pipelining_commands_go_one_at_a_time(
    one_at_a_time: tuple[Refusing, int], paths: list[str]
) -> None:
    inbox, port = one_at_a_time
    mailer = SmtpMailer("127.0.0.1", port, "help@acme.example", max_sessions=1)
    await mailer.send(_mail(1))
    await mailer.send(_mail(2))
    await mailer.aclose()

    assert paths == ["_send_plain"] * 2
    assert len(inbox.messages) == 2


@pytest.fixture(params=["pipelining", "one_at_a_time"])
def server(request: pytest.FixtureRequest) -> tuple[Refusing, int]:
    served: tuple[Refusing, int] = request.getfixturevalue(request.param)
    return served


@pytest.mark.parametrize(
    ("mail", "sender", "reason", "permanent"),
    [
        (_mail(1), "help@refused.example", "SMTP 553: 5.7.1 sender refused", True),
        (
            _mail(2, to="bob@refused.example"),
            "help@acme.example",
            "SMTP recipient refused (550)",
            True,
        ),
        (
            _mail(3, to="bob@later.example"),
            "help@acme.example",
            "SMTP recipient refused (450)",
            False,
        ),
        (
            _mail(4, text="refuse this\n"),
            "help@acme.example",
            "SMTP 554: 5.6.0 content refused",
            True,
        ),
    ],
)
async def test_refusals_are_classified_alike_and_the_session_serves_the_next_mail(
    server: tuple[Refusing, int],
    paths: list[str],
    mail: Any,
    sender: str,
    reason: str,
    permanent: bool,
) -> None:
    inbox, port = server
    mailer = SmtpMailer("127.0.0.1", port, sender, max_sessions=1)
    await mailer.send(_mail(0, headers={"From": "help@acme.example"}))  # greets the session

    with pytest.raises(DeliveryAttemptFailed) as failure:
        await mailer.send(mail)
    refused_sender = sender.endswith("@refused.example")
    if not refused_sender:
        await mailer.send(_mail(10))
    await mailer.aclose()

    assert (failure.value.reason, failure.value.permanent) == (reason, permanent)
    assert set(paths) == {"_send_pipelined" if inbox.pipelining else "_send_plain"}
    assert inbox.resets == 1
    assert len(inbox.messages) == (1 if refused_sender else 2)


class _Scripted(asyncio.Protocol):
    """An SMTP server answering with fixed replies, a byte per write, multi-line ones too."""

    def __init__(self, received: list[bytes], replies: list[bytes]) -> None:
        self.received = received
        self.replies = list(replies)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""
        self.answer()

    def answer(self) -> None:
        if not self.replies:  # the script is over: the server hangs up
            self.transport.close()
            return
        reply = self.replies.pop(0)
        for index in range(len(reply)):
            self.transport.write(reply[index : index + 1])

    def data_received(self, data: bytes) -> None:
        self.received.append(data)
        self.buffer += data
        pipelined = b"MAIL" in self.buffer or self.buffer == b".\r\n"
        ends = (b"\r\n.\r\n", b"DATA\r\n", b".\r\n") if pipelined else (b"\r\n",)
        if self.buffer.endswith(ends):
            self.buffer = b""
            self.answer()


GREETED = [
    b"220 scripted\r\n",
    b"250-scripted\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n",  # EHLO
    b"250 sender ok\r\n250 recipient ok\r\n354 go ahead\r\n",  # the first mail
    b"250 queued\r\n",
]


async def _scripted(replies: list[bytes]) -> tuple[list[bytes], asyncio.Server]:
    received: list[bytes] = []
    server = await asyncio.get_running_loop().create_server(
        lambda: _Scripted(received, GREETED + replies), "127.0.0.1", 0
    )
    return received, server


async def test_replies_split_across_reads_and_lines_are_each_read_whole() -> None:
    received, server = await _scripted(
        [
            b"250 sender ok\r\n250-recipient\r\n250 ok\r\n354 go ahead\r\n",  # pipelined
            b"250-queued\r\n250 as 1\r\n",  # the message
            b"221 bye\r\n",
        ]
    )
    mailer = SmtpMailer("127.0.0.1", server.sockets[0].getsockname()[1], "help@acme.example")

    await mailer.send(EMAIL)
    await mailer.send(EMAIL)
    await mailer.aclose()
    server.close()

    envelope = [data for data in received if data.startswith(b"MAIL")][-1]
    assert envelope.endswith(b"RCPT TO:<ann@example.com>\r\nDATA\r\n"), "one write"
    assert received[-1] == b"QUIT\r\n"


async def test_data_accepted_after_a_refused_recipient_gets_an_empty_message() -> None:
    received, server = await _scripted(
        [
            b"250 sender ok\r\n550 no such user\r\n354 go ahead\r\n",  # RFC 2920 3.1
            b"554 no valid recipients\r\n",  # the empty message
            b"250 reset\r\n",
            b"221 bye\r\n",
        ]
    )
    mailer = SmtpMailer("127.0.0.1", server.sockets[0].getsockname()[1], "help@acme.example")
    await mailer.send(EMAIL)

    with pytest.raises(DeliveryAttemptFailed) as failure:
        await mailer.send(EMAIL)
    await mailer.aclose()
    server.close()

    assert (failure.value.reason, failure.value.permanent) == ("SMTP recipient refused (550)", True)
    after = received[[n for n, data in enumerate(received) if data.startswith(b"MAIL")][-1] + 1 :]
    assert after[:2] == [b".\r\n", b"RSET\r\n"]


async def test_a_refusal_is_raised_even_when_the_server_hangs_up_on_the_reset() -> None:
    received, server = await _scripted([b"250 sender ok\r\n450 mailbox busy\r\n503 no rcpt\r\n"])
    mailer = SmtpMailer("127.0.0.1", server.sockets[0].getsockname()[1], "help@acme.example")
    await mailer.send(EMAIL)

    with pytest.raises(DeliveryAttemptFailed) as failure:
        await mailer.send(EMAIL)  # not sent again on a new session: the refusal stands
    await mailer.aclose()
    server.close()

    assert (failure.value.reason, failure.value.permanent) == (
        "SMTP recipient refused (450)",
        False,
    )
    assert received[-1] == b"RSET\r\n"
    assert sum(data.startswith(b"MAIL") for data in received) == 2
