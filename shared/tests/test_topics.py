"""Topic names: partner topics take only tenant ids that are safe in a Kafka topic name."""

import pytest

from helpline_shared.topics import UnsafePartnerTenant, partner_topic


@pytest.mark.parametrize("tenant", ["acme", "acme_1a2b3c", "ACME-eu", "x" * 64])
def test_a_partner_topic_is_named_for_its_tenant(tenant: str) -> None:
    assert partner_topic(tenant) == f"helpline.partner.{tenant}"


@pytest.mark.parametrize(
    "tenant", ["", "a.b", "..", "acme/x", "acme\n", "ac me", "caf\u00e9", "x" * 65, "a*"]
)
def test_a_tenant_id_unsafe_in_a_topic_name_is_refused(tenant: str) -> None:
    with pytest.raises(UnsafePartnerTenant):
        partner_topic(tenant)
