"""The secure local broker's pieces that need no broker: its mode and its certificates."""

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509

from helpline_devstack.certificates import ensure_broker_tls
from helpline_devstack.run import UnknownSecurityMode, broker_security


def test_make_run_stays_plaintext_unless_asked() -> None:
    assert broker_security({}) == "plaintext"
    assert broker_security({"HELPLINE_DEV_KAFKA_SECURITY": "SASL_SSL"}) == "sasl_ssl"
    with pytest.raises(UnknownSecurityMode, match="HELPLINE_DEV_KAFKA_SECURITY=ssl"):
        broker_security({"HELPLINE_DEV_KAFKA_SECURITY": "ssl"})


def test_the_broker_certificate_is_signed_by_the_ca_for_loopback_names(tmp_path: Path) -> None:
    tls = ensure_broker_tls(tmp_path)
    assert tls.ca_file == tmp_path / "ca.pem"
    ca = x509.load_pem_x509_certificate(tls.ca_file.read_bytes())
    broker, chain_ca = x509.load_pem_x509_certificates(tls.keystore_file.read_bytes())
    assert b"PRIVATE KEY" in tls.keystore_file.read_bytes()
    assert tls.keystore_file.stat().st_mode & 0o077 == 0
    broker.verify_directly_issued_by(ca)
    assert chain_ca == ca
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    before = tls.ca_file.read_bytes()
    assert ensure_broker_tls(tmp_path) == tls
    assert tls.ca_file.read_bytes() == before, "made once, then reused"
