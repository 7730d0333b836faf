"""Proof of domain ownership: a DNS TXT record (production) or trust (local development)."""

import logging

import dns.asyncresolver
import dns.exception
import dns.resolver

log = logging.getLogger(__name__)


class DnsTxtOwnership:
    """Looks the verification record up in DNS (dnspython, ISC licence)."""

    def __init__(
        self, timeout: float = 5.0, resolver: dns.asyncresolver.Resolver | None = None
    ) -> None:
        self._timeout = timeout
        self._resolver = resolver or dns.asyncresolver.Resolver()

    async def proven(self, record_name: str, record_value: str) -> bool:
        """True when a TXT record at ``record_name`` equals ``record_value``."""
        try:
            answer = await self._resolver.resolve(record_name, "TXT", lifetime=self._timeout)
        except (
            dns.resolver.NXDOMAIN,
            dns.resolver.NoAnswer,
            dns.resolver.NoNameservers,
            dns.exception.Timeout,
        ):
            return False
        for record in answer:
            # A TXT record is one or more strings; RFC 7208 §3.3 joins them without a space.
            text = b"".join(getattr(record, "strings", ())).decode("utf-8", errors="replace")
            if text == record_value:
                return True
        return False


class TrustedOwnership:
    """Development only: every domain counts as proven (HELPLINE_DOMAIN_VERIFICATION=trust)."""

    def __init__(self) -> None:
        log.warning("domain verification trusts every tenant: development only")

    async def proven(self, record_name: str, record_value: str) -> bool:
        """Always True."""
        return True
