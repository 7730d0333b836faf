"""Message-IDs in their comparison form: what intake remembers and threads replies by."""

import pytest

from helpline_intake.domain.email.threading import normalize_message_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@host.example>", "abc@host.example"),
        ("  <abc@host.example>  ", "abc@host.example"),
        ("abc@host.example", "abc@host.example"),
        ("  abc@host.example ", "abc@host.example"),
        ("junk before <abc@host.example> after", "abc@host.example"),
        (None, None),
        ("", None),
        ("<>", None),
        ("   ", None),
    ],
)
def test_a_message_id_is_taken_from_its_angle_brackets(
    value: str | None, expected: str | None
) -> None:
    assert normalize_message_id(value) == expected


@pytest.mark.parametrize(
    "space", [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2003", "\u3000"]
)
def test_an_id_holding_any_whitespace_is_refused(space: str) -> None:
    # Unbracketed (no <...> to take it from): every character str.isspace calls whitespace.
    assert space.isspace()
    assert normalize_message_id(f"abc{space}def@host.example") is None


def test_an_id_longer_than_900_characters_is_refused() -> None:
    assert normalize_message_id("<" + "a" * 896 + "@h.io>") is None
    assert normalize_message_id("<" + "a" * 895 + "@h.io>") == "a" * 895 + "@h.io"
