"""Kafka client security: one set of HELPLINE_KAFKA_* settings, the same options everywhere."""

import ssl
from pathlib import Path

import pytest
from faststream.kafka.security import parse_security
from pydantic import ValidationError

from helpline_shared.kafka_security import (
    KafkaClientSettings,
    KafkaSecurity,
    aiokafka_options,
    environment_variables,
    faststream_security,
    librdkafka_config,
)

CA = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


def test_plaintext_is_the_default_and_adds_nothing_but_the_protocol() -> None:
    assert aiokafka_options(KafkaClientSettings().kafka_security()) == {
        "security_protocol": "PLAINTEXT"
    }
    assert faststream_security(KafkaSecurity()) is None


def test_sasl_ssl_with_scram_gives_the_credentials_and_a_verifying_tls_context() -> None:
    security = KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "helpline-intake", "s3cret", CA)
    options = aiokafka_options(security)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "helpline-intake",
        "s3cret",
    )
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert options["ssl_context"].check_hostname is True


@pytest.mark.parametrize(
    "security",
    [
        KafkaSecurity("SSL", ca_file=CA),
        KafkaSecurity("SASL_PLAINTEXT", "PLAIN", "u", "p"),
        KafkaSecurity("SASL_PLAINTEXT", "SCRAM-SHA-256", "u", "p"),
        KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "u", "p", CA),
    ],
    ids=["ssl", "plain", "scram-256", "scram-512-ssl"],
)
def test_faststream_gets_the_same_options_as_every_other_client(security: KafkaSecurity) -> None:
    expected = aiokafka_options(security)
    parsed = parse_security(faststream_security(security))
    assert {k: v for k, v in parsed.items() if v is not None and k != "ssl_context"} == {
        k: v for k, v in expected.items() if k != "ssl_context"
    }
    assert ("ssl_context" in expected) == (parsed.get("ssl_context") is not None)


def test_sasl_without_a_password_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="HELPLINE_KAFKA_SASL_PASSWORD"):
        KafkaClientSettings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u")


def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("x")
    with pytest.raises(ValidationError, match="HELPLINE_KAFKA_SSL_KEY_FILE"):
        KafkaClientSettings(kafka_security_protocol="SSL", kafka_ssl_cert_file=cert)


def test_a_missing_ca_file_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="kafka_ssl_ca_file"):
        KafkaClientSettings(kafka_ssl_ca_file=tmp_path / "nowhere.pem")


def test_the_environment_of_a_client_reads_back_as_the_same_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    security = KafkaSecurity("SASL_SSL", "SCRAM-SHA-256", "helpline-notify", "pw", CA)
    for name, value in environment_variables(security).items():
        monkeypatch.setenv(name, value)
    assert KafkaClientSettings().kafka_security() == security
    assert "pw" not in repr(security)


def test_librdkafka_names_for_partners_and_the_cli() -> None:
    security = KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "partner.demo.acme", "pw", CA)
    assert librdkafka_config(security, "127.0.0.1:9092") == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "partner.demo.acme",
        "sasl.password": "pw",
        "ssl.ca.location": str(CA),
    }
