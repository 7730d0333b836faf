"""Which webhook destinations notify may call: the address rules of the SSRF guard."""

import ipaddress
from urllib.parse import urlsplit

from helpline_notify.domain.errors import InvalidWebhookUrl

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CLOUD_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
"""Instance-metadata services (AWS, ECS, GCP, Azure, Alibaba): refused even in development."""

_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    # An IPv6 address can carry an IPv4 one; the IPv4 one is where the packet really goes.
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IpAddress, *, allow_private_networks: bool) -> str | None:
    """Why ``address`` must not be called, or None when it is a public unicast address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return refusal_reason(embedded, allow_private_networks=allow_private_networks)
    if address in CLOUD_METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_global:
        return None
    if allow_private_networks:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_private:
        return "a private address"
    return "a reserved address"


def validate_webhook_url(url: str, *, allow_private_networks: bool) -> str:
    """Return ``url`` if it is an absolute http(s) URL not aimed at a forbidden literal IP."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _port = parts.port
    except ValueError as error:
        raise InvalidWebhookUrl(f"not a valid URL: {error}") from error
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhookUrl("the URL must use http or https")
    if not host:
        raise InvalidWebhookUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("credentials in the URL are not allowed; verify the signature")
    if parts.fragment:
        raise InvalidWebhookUrl("the URL must not have a fragment")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return url
    # Host names are checked after DNS resolution on every attempt; a literal is refused now.
    reason = refusal_reason(literal, allow_private_networks=allow_private_networks)
    if reason:
        raise InvalidWebhookUrl(f"the URL points at {reason}")
    return url
