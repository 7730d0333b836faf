"""Which webhook URLs notify accepts; the address rules are the shared destination guard's."""

from urllib.parse import urlsplit

from helpline_notify.domain.errors import InvalidWebhookUrl
from helpline_shared.inputs import has_unsafe_characters
from helpline_shared.netguard import literal_refusal


def validate_webhook_url(url: str, *, allow_private_networks: bool) -> str:
    """Return ``url`` if it is an absolute http(s) URL not aimed at a forbidden literal IP."""
    if has_unsafe_characters(url):
        raise InvalidWebhookUrl("the URL contains a control or bidirectional character")
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
    # Host names are checked after DNS resolution on every attempt; a literal is refused now.
    reason = literal_refusal(host, allow_private_networks=allow_private_networks)
    if reason:
        raise InvalidWebhookUrl(f"the URL points at {reason}")
    return url
