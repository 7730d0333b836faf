"""The DNS TXT proof of domain ownership, against a small DNS server on 127.0.0.1."""

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import dns.asyncresolver
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from helpline_intake.adapters.domain_ownership import DnsTxtOwnership

ZONE = {
    "_helpline-challenge.acme.test.": ['"helpline-domain-verification=" "tok123"', '"v=spf1 -all"'],
    "_helpline-challenge.other.test.": ['"helpline-domain-verification=wrong"'],
}


class TxtServer(asyncio.DatagramProtocol):
    """Answers TXT queries from ``ZONE``; NXDOMAIN for anything else."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        name = query.question[0].name.to_text()
        if name in ZONE:
            response.answer.append(
                dns.rrset.from_text_list(name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, ZONE[name])
            )
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def ownership() -> AsyncIterator[DnsTxtOwnership]:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        TxtServer, local_addr=("127.0.0.1", 0)
    )
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = transport.get_extra_info("sockname")[1]
    yield DnsTxtOwnership(timeout=2.0, resolver=resolver)
    transport.close()


async def test_the_published_record_proves_ownership(ownership: DnsTxtOwnership) -> None:
    # A TXT record of several strings is their concatenation (RFC 7208 §3.3).
    assert await ownership.proven(
        "_helpline-challenge.acme.test", "helpline-domain-verification=tok123"
    )


async def test_a_missing_or_different_record_proves_nothing(ownership: DnsTxtOwnership) -> None:
    assert not await ownership.proven(
        "_helpline-challenge.other.test", "helpline-domain-verification=tok123"
    )
    assert not await ownership.proven(
        "_helpline-challenge.nowhere.test", "helpline-domain-verification=tok123"
    )
