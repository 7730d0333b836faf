"""The SSRF address rules and webhook URL validation."""

import ipaddress

import pytest

from helpline_notify.domain.destinations import refusal_reason, validate_webhook_url
from helpline_notify.domain.errors import InvalidWebhookUrl


@pytest.mark.parametrize(("address", "reason"), [
    ("10.0.0.1", "a private address"),
    ("192.168.1.10", "a private address"),
    ("172.16.5.4", "a private address"),
    ("127.0.0.1", "a loopback address"),
    ("::1", "a loopback address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("169.254.10.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("100.64.0.1", "a carrier-grade NAT address"),
    ("0.0.0.0", "the unspecified address"),
    ("fc00::5", "a private address"),
    ("::ffff:10.0.0.1", "a private address"),
    ("64:ff9b::a00:1", "a private address"),
    ("2002:7f00:1::1", "a loopback address"),
    ("224.0.0.1", "a multicast address"),
])
def test_internal_addresses_are_refused(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address), allow_private_networks=False) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address), allow_private_networks=False) is None


def test_development_allows_private_networks_but_never_metadata() -> None:
    for address in ("127.0.0.1", "10.0.0.1", "::1"):
        assert refusal_reason(ipaddress.ip_address(address), allow_private_networks=True) is None
    assert refusal_reason(ipaddress.ip_address("169.254.169.254"),
                          allow_private_networks=True) == "a cloud metadata address"


@pytest.mark.parametrize("url", [
    "ftp://example.com/hook", "https:///nohost", "https://user:pw@example.com/hook",
    "http://127.0.0.1:8000/hook", "http://[::1]/hook", "http://169.254.169.254/latest",
    "https://example.com:99999/hook", "not a url",
])
def test_unusable_webhook_urls_are_rejected(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        validate_webhook_url(url, allow_private_networks=False)


def test_host_names_are_left_to_the_per_attempt_check() -> None:
    assert validate_webhook_url("https://hooks.example.com/in",
                                allow_private_networks=False) == "https://hooks.example.com/in"
