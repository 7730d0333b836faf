"""Webhook URL validation (the address rules are tested with the shared guard)."""

import pytest

from helpline_notify.domain.destinations import validate_webhook_url
from helpline_notify.domain.errors import InvalidWebhookUrl


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "https:///nohost",
        "https://user:pw@example.com/hook",
        "http://127.0.0.1:8000/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
        "https://example.com:99999/hook",
        "not a url",
        "http://[64:ff9b::a00:1]/hook",
        "https://hooks.example.com/in\x00",
        "https://hooks.example.com/\u202ein",
    ],
)
def test_unusable_webhook_urls_are_rejected(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        validate_webhook_url(url, allow_private_networks=False)


def test_host_names_are_left_to_the_per_attempt_check() -> None:
    assert (
        validate_webhook_url("https://hooks.example.com/in", allow_private_networks=False)
        == "https://hooks.example.com/in"
    )
