"""Bearer tokens: malformed credentials of any shape are invalid tokens, never a crash."""

import pytest

from helpline_shared.runtime.auth import InvalidToken, issue_token, verify_token

SECRET = "auth-test-secret"


def test_a_token_issued_with_the_secret_verifies() -> None:
    principal = verify_token(issue_token("acme", SECRET, ("tickets:read",)), SECRET)
    assert principal.tenant_id == "acme" and principal.scopes == {"tickets:read"}


@pytest.mark.parametrize("token", [
    "hl_\u00e9\u00ff.\u00fe",  # Latin-1 decoded bytes from the header
    issue_token("acme", SECRET)[:-3] + "\u00e9ab",
    "hl_" + "\u0100" * 10 + "." + "x",
    "hl_." ,
    "hl_" + "a" * 10_000 + ".b",
    "hl_abc.def.ghi",
    "hl_\x00.\x00",
])
def test_a_malformed_token_is_an_invalid_token(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(token, SECRET)
