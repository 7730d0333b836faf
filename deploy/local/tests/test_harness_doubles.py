"""The webhook receiver and the counting mail sink, as a partner's endpoint and an SMTP server
would be used: real sockets, no broker."""

from __future__ import annotations

import base64
import smtplib
import socket
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from helpline_devstack._proc import free_port
from helpline_devstack.mailsink import MailCounter, MailSink
from helpline_devstack.testing import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"a secret of the bench endpoint").decode()


def _signed(message_id: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    moment = datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        # Two secrets during a rotation: either signature may be the right one.
        "webhook-signature": "v1,c29tZXRoaW5nIGVsc2U= "
        + Webhook(secret).sign(message_id, moment, body.decode()),
    }


def test_the_receiver_keeps_each_call_on_a_kept_alive_connection_and_checks_signatures() -> None:
    with WebhookReceiver() as receiver:
        receiver.secrets["/hook"] = SECRET
        receiver.statuses = [500]
        body = b'{"data": {"ticket_id": "t1"}}'
        with httpx.Client() as client:
            first = client.post(receiver.url + "/hook", content=body, headers=_signed("m1", body))
            second = client.post(receiver.url + "/hook", content=body, headers=_signed("m1", body))
            forged = client.post(
                receiver.url + "/hook",
                content=body,
                headers=_signed("m1", body, "whsec_" + base64.b64encode(b"another").decode()),
            )
            large = client.post(receiver.url + "/other", content=b"x" * 200_000)
        calls = receiver.received()
    assert [first.status_code, second.status_code, forged.status_code, large.status_code] == [
        500,
        204,
        204,
        204,
    ]
    assert [(call.path, call.verified) for call in calls] == [
        ("/hook", True),
        ("/hook", True),
        ("/hook", False),
        ("/other", None),
    ]
    assert calls[0].body == body and calls[0].headers["webhook-id"] == "m1"
    assert len(calls[3].body) == 200_000
    assert receiver.received_since(3) == calls[3:]


def test_a_request_cut_off_mid_body_is_not_kept() -> None:
    with WebhookReceiver() as receiver:
        with socket.create_connection(("127.0.0.1", receiver.port)) as connection:
            connection.sendall(b"POST /hook HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{}")
            connection.shutdown(socket.SHUT_WR)
            assert connection.recv(100) == b""  # no answer: the receiver closed the connection
        with httpx.Client() as client:  # a whole request after it is answered and kept
            assert client.post(receiver.url + "/hook", content=b"{}").status_code == 204
        assert [call.body for call in receiver.received()] == [b"{}"]


def test_the_receiver_starts_where_another_loop_runs() -> None:
    import asyncio

    async def post() -> int:
        with WebhookReceiver() as receiver:
            async with httpx.AsyncClient() as client:
                answers = await asyncio.gather(
                    *(client.post(receiver.url + "/h", content=b"%d" % n) for n in range(20))
                )
            assert len(receiver.received()) == 20
            return answers[0].status_code

    assert asyncio.run(post()) == 204


def test_the_mail_counter_accepts_well_formed_mail_only() -> None:
    counter = MailCounter()
    counter.start()
    try:
        with smtplib.SMTP(counter.host, counter.port) as client:
            assert client.ehlo()[0] == 250
            client.sendmail(
                "helpline@x.example",
                ["a@y.example", "b@y.example"],
                b"Subject: one\r\n\r\nHello,\r\n.a line with a leading dot\r\n",
            )
            client.sendmail("helpline@x.example", ["a@y.example"], b"")
            assert client.docmd("DATA")[0] == 503  # no recipient yet
            assert client.docmd("RCPT", "TO:<a@y.example>")[0] == 503  # no sender yet
            assert client.docmd("MAIL", "FROM:<helpline@x.example>")[0] == 250
            assert client.docmd("MAIL", "FROM:<helpline@x.example>")[0] == 503
            assert client.rset()[0] == 250
            assert client.docmd("VRFY", "a@y.example")[0] == 500
        with smtplib.SMTP(counter.host, counter.port) as client:
            # No greeting, no mail.
            assert client.docmd("MAIL", "FROM:<helpline@x.example>")[0] == 503
    finally:
        counter.stop()
    counter.stop()  # idempotent
    assert counter.accepted == 2


@pytest.mark.parametrize("split", [1, 2, 3, 4, 5])
def test_the_end_of_a_message_is_found_across_reads(split: int) -> None:
    counter = MailCounter()
    counter.start()
    try:
        with socket.create_connection((counter.host, counter.port)) as connection:
            reader = connection.makefile("rb")
            assert reader.readline().startswith(b"220")
            for command in (b"HELO x\r\n", b"MAIL FROM:<a@x.example>\r\n", b"RCPT TO:<b@x>\r\n"):
                connection.sendall(command)
                assert reader.readline().startswith(b"250")
            connection.sendall(b"DATA\r\n")
            assert reader.readline().startswith(b"354")
            tail = b"body\r\n.\r\n"
            connection.sendall(tail[:-split])
            connection.sendall(tail[-split:])
            assert reader.readline().startswith(b"250")
    finally:
        counter.stop()
    assert counter.accepted == 1


@pytest.mark.parametrize("sink", ["counter", "store"])
def test_both_sinks_advertise_and_answer_pipelined_commands(sink: str, tmp_path: Path) -> None:
    # RFC 2920: MAIL, RCPT and DATA in one write, their replies read after it, in order.
    server = MailCounter() if sink == "counter" else MailSink(tmp_path, port=free_port())
    server.start()
    try:
        with socket.create_connection((server.host, server.port)) as connection:
            reader = connection.makefile("rb")
            assert reader.readline().startswith(b"220")
            connection.sendall(b"EHLO x.example\r\n")
            extensions = []
            while (line := reader.readline())[:4] != b"250 ":
                extensions.append(line[4:].strip())
            assert b"PIPELINING" in extensions
            for _ in range(2):
                connection.sendall(
                    b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
                    b"RCPT TO:<c@y.example>\r\nDATA\r\n"
                )
                assert [reader.readline()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
                connection.sendall(b"Subject: piped\r\n\r\nbody\r\n.\r\n")
                assert reader.readline().startswith(b"250")
    finally:
        server.stop()
    if isinstance(server, MailCounter):
        assert server.accepted == 2
    else:
        assert len(server.messages()) == 2
