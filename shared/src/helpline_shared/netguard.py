"""The destination guard every outbound connection to a tenant-given host goes through (SSRF).

Webhooks (notify) and IMAP mailboxes (intake) name hosts that Helpline then connects to. The host
is resolved here and every address is checked before any connection; the caller connects to the
checked address, so DNS cannot change the answer between check and connect. Refused: every IANA
special-purpose range (the IPv4 and IPv6 Special-Purpose Address Registries), multicast, and every
IPv6 form that embeds an IPv4 address except IPv4-mapped (which is that IPv4 address on the wire
and is judged as such). Cloud metadata addresses are refused even when private networks are
allowed for local development.
"""

import asyncio
import ipaddress
import socket

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CLOUD_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
"""Instance-metadata services (AWS, ECS, GCP, Azure, Alibaba): refused even in development."""

_MULTICAST = "a multicast address"
_EMBEDDING = "an IPv6 address that embeds an IPv4 address"

# First match wins: narrower ranges come before the ranges that contain them.
_SPECIAL_PURPOSE: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/32", "the unspecified address"),
    ("0.0.0.0/8", "a 'this network' address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol assignment address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.31.196.0/24", "an AS112 address"),
    ("192.52.193.0/24", "an AMT address"),
    ("192.88.99.0/24", "a 6to4 relay anycast address"),
    ("192.168.0.0/16", "a private address"),
    ("192.175.48.0/24", "an AS112 address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", _MULTICAST),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("::/96", f"{_EMBEDDING} (IPv4-compatible)"),
    ("::ffff:0:0:0/96", f"{_EMBEDDING} (IPv4-translated)"),
    ("64:ff9b::/96", f"{_EMBEDDING} (NAT64)"),
    ("64:ff9b:1::/48", f"{_EMBEDDING} (local-use NAT64)"),
    ("100::/64", "a discard-only address"),
    ("100:0:0:1::/64", "a dummy prefix address"),
    ("2001::/32", f"{_EMBEDDING} (Teredo)"),
    ("2001::/23", "an IETF protocol assignment address"),
    ("2001:db8::/32", "a documentation address"),
    ("2002::/16", f"{_EMBEDDING} (6to4)"),
    ("2620:4f:8000::/48", "an AS112 address"),
    ("3fff::/20", "a documentation address"),
    ("5f00::/16", "a segment routing (SRv6) address"),
    ("fc00::/7", "a private address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", _MULTICAST),
)
SPECIAL_PURPOSE_NETWORKS = tuple(
    (ipaddress.ip_network(network), reason) for network, reason in _SPECIAL_PURPOSE
)
"""Every refused range with the reason a refusal names."""

_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


class DestinationRefused(Exception):
    """A host that resolves to an address no tenant-given destination may have."""


class HostNotResolved(OSError):
    """The host name has no address (or DNS failed)."""


def embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    for network, reason in SPECIAL_PURPOSE_NETWORKS:
        if _EMBEDDING in reason and address in network and network.prefixlen >= 48:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _special_purpose(address: IpAddress) -> str | None:
    for network, reason in SPECIAL_PURPOSE_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6:
        return "a reserved address"
    return None if address.is_global else "a reserved address"


def refusal_reason(address: IpAddress, *, allow_private_networks: bool) -> str | None:
    """Why ``address`` must not be connected to, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address in _IPV4_MAPPED:
        assert address.ipv4_mapped is not None
        return refusal_reason(address.ipv4_mapped, allow_private_networks=allow_private_networks)
    embedded = embedded_ipv4(address)
    if address in CLOUD_METADATA_ADDRESSES or embedded in CLOUD_METADATA_ADDRESSES:
        return "a cloud metadata address"
    reason = _special_purpose(address)
    if reason == _MULTICAST:
        return reason
    if reason is None or allow_private_networks:
        return None
    return reason


def literal_refusal(host: str, *, allow_private_networks: bool) -> str | None:
    """The refusal reason when ``host`` is a forbidden IP literal; None for names and others."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return refusal_reason(literal, allow_private_networks=allow_private_networks)


async def resolve_allowed(host: str, port: int, *, allow_private_networks: bool) -> list[str]:
    """The addresses ``host`` resolves to, every one allowed; else ``DestinationRefused``."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise HostNotResolved(f"cannot resolve the host: {error}") from error
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise HostNotResolved("the host has no address")
    for address in addresses:
        reason = refusal_reason(
            ipaddress.ip_address(address.split("%", 1)[0]),
            allow_private_networks=allow_private_networks,
        )
        if reason:
            raise DestinationRefused(f"refused: the host resolves to {reason}")
    return addresses
