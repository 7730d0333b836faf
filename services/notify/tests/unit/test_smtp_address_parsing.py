"""Plain mail parses no address it need not: bare addresses as they are, the sender once."""

from email.utils import getaddresses

import pytest

from helpline_notify.adapters import smtp
from helpline_notify.service_layer.ports import OutboundEmail

SENDER = "Helpline <notifications@helpline.test>"


def mail_to(address: str) -> OutboundEmail:
    return OutboundEmail(
        message_id="<m@helpline.test>",
        to=address,
        subject="We received your request",
        text="Hello\n",
        html=None,
        headers={"Reply-To": "reply+t-1@helpline.test"},
        attachments=(),
    )


def test_bare_addresses_and_a_repeated_sender_are_not_parsed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp._address_header.cache_clear()
    parsed: list[str] = []

    def counting(values: list[str]) -> list[tuple[str, str]]:
        parsed.extend(values)
        return getaddresses(values)

    monkeypatch.setattr(smtp, "getaddresses", counting)
    for number in range(3):
        sender, recipients, data = smtp.wire_message(mail_to(f"c{number}@bench.example"), SENDER)
        assert (sender, recipients) == ("notifications@helpline.test", [f"c{number}@bench.example"])
        assert f"\r\nTo: c{number}@bench.example\r\n".encode() in data
        assert b"\r\nReply-To: reply+t-1@helpline.test\r\n" in data

    assert parsed == [SENDER]


@pytest.mark.parametrize(
    "address",
    ["a@b.example", "first.last+tag_x-y@mail-1.example.org", "UPPER@Example.COM"],
)
def test_a_bare_address_is_written_as_getaddresses_reads_it(address: str) -> None:
    assert getaddresses([address]) == [("", address)]
    assert smtp._address_header("To", address) == (f"To: {address}", address)


@pytest.mark.parametrize(
    "value", ['"Ann" <ann@example.com>', "ann@example.com (Ann)", "a..b@example.com", "a@b, c@d"]
)
def test_anything_else_is_parsed(value: str) -> None:
    assert smtp._BARE_ADDRESS.fullmatch(value) is None
