"""The NUL-escape scan of JSON bodies, fed in chunks split anywhere."""

import json

import pytest

from helpline_shared.runtime.edge import NulEscapes


def found(body: bytes, chunk: int) -> bool:
    scanner = NulEscapes()
    return any(scanner.found_in(body[at : at + chunk]) for at in range(0, len(body), chunk))


@pytest.mark.parametrize(
    ("value", "has_nul"),
    [
        ("a\x00b", True),
        ("\x00", True),
        ("\\\x00", True),
        ("\\\\\x00", True),
        ("\\u0000", False),
        ("\\\\u0000", False),
        ("plain", False),
        ("u0000", False),
        ("\\" * 9 + "u0000", False),
    ],
)
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 6, 7, 64])
def test_a_nul_escape_is_found_across_chunks_and_an_escaped_backslash_is_not_one(
    value: str, has_nul: bool, chunk: int
) -> None:
    body = json.dumps({"name": value, "n": 1}).encode()
    assert found(body, chunk) is has_nul
