"""The shared destination guard: every special-purpose range and IPv4-embedding form refused."""

import ipaddress

import pytest

from helpline_shared import netguard
from helpline_shared.netguard import literal_refusal, refusal_reason, resolve_allowed

EMBEDS = "an IPv6 address that embeds an IPv4 address"

# One address inside each IANA special-purpose range (RFC 6890 registries, as of 2026), and the
# IPv6 forms that carry an IPv4 address.
REFUSED = [
    ("0.0.0.0", "the unspecified address"),
    ("0.1.2.3", "a 'this network' address"),
    ("10.0.0.1", "a private address"),
    ("100.64.0.1", "a carrier-grade NAT address"),
    ("100.127.255.254", "a carrier-grade NAT address"),
    ("127.0.0.1", "a loopback address"),
    ("127.255.0.9", "a loopback address"),
    ("169.254.10.1", "a link-local address"),
    ("172.16.5.4", "a private address"),
    ("172.31.255.1", "a private address"),
    ("192.0.0.1", "an IETF protocol assignment address"),
    ("192.0.0.9", "an IETF protocol assignment address"),
    ("192.0.0.170", "an IETF protocol assignment address"),
    ("192.0.2.10", "a documentation address"),
    ("192.31.196.1", "an AS112 address"),
    ("192.52.193.1", "an AMT address"),
    ("192.88.99.1", "a 6to4 relay anycast address"),
    ("192.168.1.10", "a private address"),
    ("192.175.48.1", "an AS112 address"),
    ("198.18.0.1", "a benchmarking address"),
    ("198.19.255.1", "a benchmarking address"),
    ("198.51.100.7", "a documentation address"),
    ("203.0.113.9", "a documentation address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("254.1.2.3", "a reserved address"),
    ("255.255.255.255", "the broadcast address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("169.254.170.2", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("::", "the unspecified address"),
    ("::1", "a loopback address"),
    ("::ffff:10.0.0.1", "a private address"),
    ("::ffff:127.0.0.1", "a loopback address"),
    ("::ffff:169.254.169.254", "a cloud metadata address"),
    ("::10.0.0.1", f"{EMBEDS} (IPv4-compatible)"),
    ("::8.8.8.8", f"{EMBEDS} (IPv4-compatible)"),
    ("::ffff:0:8.8.8.8", f"{EMBEDS} (IPv4-translated)"),
    ("64:ff9b::a00:1", f"{EMBEDS} (NAT64)"),
    ("64:ff9b::808:808", f"{EMBEDS} (NAT64)"),
    ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),
    ("64:ff9b:1::a00:1", f"{EMBEDS} (local-use NAT64)"),
    ("100::1", "a discard-only address"),
    ("100:0:0:1::1", "a dummy prefix address"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", f"{EMBEDS} (Teredo)"),
    ("2001:2::1", "an IETF protocol assignment address"),
    ("2001:10::1", "an IETF protocol assignment address"),
    ("2001:1ff::1", "an IETF protocol assignment address"),
    ("2001:db8::1", "a documentation address"),
    ("2002:7f00:1::1", f"{EMBEDS} (6to4)"),
    ("2002:808:808::1", f"{EMBEDS} (6to4)"),
    ("2620:4f:8000::1", "an AS112 address"),
    ("3fff::1", "a documentation address"),
    ("5f00::1", "a segment routing (SRv6) address"),
    ("fc00::5", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("fe80::1", "a link-local address"),
    ("fec0::1", "a site-local address"),
    ("ff02::1", "a multicast address"),
    ("4000::1", "a reserved address"),
    ("e000::1", "a reserved address"),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_special_purpose_and_embedding_addresses_are_refused(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address), allow_private_networks=False) == reason


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "2606:2800:220:1:248:1893:25c8:1946",
        "2a00:1450:4001:82a::200e",
        "::ffff:93.184.216.34",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address), allow_private_networks=False) is None


def test_development_allows_private_networks_but_never_metadata_or_multicast() -> None:
    for address in ("127.0.0.1", "10.0.0.1", "::1", "fd00::1"):
        assert refusal_reason(ipaddress.ip_address(address), allow_private_networks=True) is None
    for address, reason in [
        ("169.254.169.254", "a cloud metadata address"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("224.0.0.1", "a multicast address"),
    ]:
        assert refusal_reason(ipaddress.ip_address(address), allow_private_networks=True) == reason


def test_every_listed_range_is_refused_at_its_first_and_last_address() -> None:
    for network, _ in netguard.SPECIAL_PURPOSE_NETWORKS:
        for address in (network[0], network[-1]):
            assert refusal_reason(address, allow_private_networks=False), address


def test_literals_are_judged_and_names_left_to_resolution() -> None:
    assert literal_refusal("[::1]", allow_private_networks=False) == "a loopback address"
    assert literal_refusal("10.1.2.3", allow_private_networks=False) == "a private address"
    assert literal_refusal("imap.example.com", allow_private_networks=False) is None


async def test_a_name_resolving_to_loopback_is_refused_unless_private_networks_are_allowed() -> (
    None
):
    with pytest.raises(netguard.DestinationRefused, match="a loopback address"):
        await resolve_allowed("localhost", 993, allow_private_networks=False)
    assert "127.0.0.1" in await resolve_allowed("localhost", 993, allow_private_networks=True)
    with pytest.raises(netguard.HostNotResolved):
        await resolve_allowed("no-such-host.invalid", 993, allow_private_networks=True)
