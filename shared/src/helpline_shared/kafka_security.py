"""How every Helpline Kafka client connects: plaintext, TLS (with a client certificate: mTLS), SASL.

The services, the ``helpline`` CLI, the devstack and the test tools all read the same
``HELPLINE_KAFKA_*`` settings (:class:`KafkaClientSettings`) and turn them into client options
with :func:`aiokafka_options` only, so that no client connects differently from the others.
"""

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import Field, FilePath, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@dataclass(frozen=True)
class KafkaSecurity:
    """How one client authenticates and encrypts; the default is plaintext, anonymous."""

    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = field(default=None, repr=False)

    @property
    def uses_sasl(self) -> bool:
        """True when the client logs in with a user name and password."""
        return self.protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        """True when the connection is encrypted."""
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def principal(self) -> str:
        """Who the broker sees: ``User:<name>`` for SASL, else what TLS or nothing gives."""
        if self.uses_sasl:
            return f"User:{self.username}"
        if self.cert_file is not None:
            return f"the certificate {self.cert_file}"
        return "User:ANONYMOUS"

    def with_password(self, password: str) -> "KafkaSecurity":
        """The same client with another password (a rotated credential)."""
        return KafkaSecurity(
            self.protocol,
            self.sasl_mechanism,
            self.username,
            password,
            self.ca_file,
            self.cert_file,
            self.key_file,
            self.key_password,
        )


PLAINTEXT = KafkaSecurity()


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context of ``security`` (verifying the broker), or None without TLS."""
    if not security.uses_tls:
        return None
    return create_ssl_context(
        cafile=str(security.ca_file) if security.ca_file else None,
        certfile=str(security.cert_file) if security.cert_file else None,
        keyfile=str(security.key_file) if security.key_file else None,
        password=security.key_password,
    )


def aiokafka_options(security: KafkaSecurity) -> dict[str, Any]:
    """Keyword arguments of aiokafka's producers, consumers and admin clients for ``security``."""
    options: dict[str, Any] = {"security_protocol": security.protocol}
    context = ssl_context(security)
    if context is not None:
        options["ssl_context"] = context
    if security.uses_sasl:
        options.update(
            sasl_mechanism=security.sasl_mechanism,
            sasl_plain_username=security.username,
            sasl_plain_password=security.password,
        )
    return options


_FASTSTREAM_SASL: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


def faststream_security(security: KafkaSecurity) -> BaseSecurity | None:
    """The same options as :func:`aiokafka_options`, in the form FastStream's broker takes."""
    options = aiokafka_options(security)
    if security.protocol == "PLAINTEXT":
        return None
    use_ssl = security.uses_tls
    if not security.uses_sasl:
        return BaseSecurity(ssl_context=options.get("ssl_context"), use_ssl=use_ssl)
    sasl = _FASTSTREAM_SASL[options["sasl_mechanism"]]
    return sasl(
        options["sasl_plain_username"],
        options["sasl_plain_password"],
        ssl_context=options.get("ssl_context"),
        use_ssl=use_ssl,
    )


def librdkafka_config(security: KafkaSecurity, bootstrap_servers: str) -> dict[str, str]:
    """The same connection in librdkafka's property names (confluent-kafka, partners' files)."""
    config = {"bootstrap.servers": bootstrap_servers, "security.protocol": security.protocol}
    if security.uses_sasl:
        config.update(
            {
                "sasl.mechanism": security.sasl_mechanism,
                "sasl.username": security.username or "",
                "sasl.password": security.password or "",
            }
        )
    if security.uses_tls and security.ca_file is not None:
        config["ssl.ca.location"] = str(security.ca_file)
    if security.cert_file is not None:
        config["ssl.certificate.location"] = str(security.cert_file)
    if security.key_file is not None:
        config["ssl.key.location"] = str(security.key_file)
    if security.key_password is not None:
        config["ssl.key.password"] = security.key_password
    return config


def environment_variables(security: KafkaSecurity) -> dict[str, str]:
    """The ``HELPLINE_KAFKA_*`` variables that give a Helpline program ``security``."""
    values = {
        "SECURITY_PROTOCOL": security.protocol,
        "SASL_MECHANISM": security.sasl_mechanism if security.uses_sasl else None,
        "SASL_USERNAME": security.username,
        "SASL_PASSWORD": security.password,
        "SSL_CA_FILE": security.ca_file,
        "SSL_CERT_FILE": security.cert_file,
        "SSL_KEY_FILE": security.key_file,
        "SSL_KEY_PASSWORD": security.key_password,
    }
    return {
        f"HELPLINE_KAFKA_{name}": str(value) for name, value in values.items() if value is not None
    }


class KafkaClientSettings(BaseSettings):
    """The ``HELPLINE_KAFKA_*`` settings of every program that talks to Kafka."""

    model_config = SettingsConfigDict(env_prefix="HELPLINE_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", description="SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (SASL_*)"
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="The client's Kafka user (SASL_*); required with SASL"
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="Its password (SASL_*); required with SASL"
    )
    kafka_ssl_ca_file: FilePath | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates; default: the "
        "system's CAs",
    )
    kafka_ssl_cert_file: FilePath | None = Field(
        default=None, description="PEM client certificate (mutual TLS); needs the key file"
    )
    kafka_ssl_key_file: FilePath | None = Field(
        default=None, description="PEM private key of the client certificate"
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of the private key, if it is encrypted"
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"{self.kafka_security_protocol} needs HELPLINE_KAFKA_SASL_USERNAME "
                "and HELPLINE_KAFKA_SASL_PASSWORD"
            )
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError(
                "a client certificate needs both HELPLINE_KAFKA_SSL_CERT_FILE and "
                "HELPLINE_KAFKA_SSL_KEY_FILE"
            )
        return self

    def kafka_security(self) -> KafkaSecurity:
        """How this program's Kafka clients connect."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=_secret(self.kafka_sasl_password),
            ca_file=self.kafka_ssl_ca_file,
            cert_file=self.kafka_ssl_cert_file,
            key_file=self.kafka_ssl_key_file,
            key_password=_secret(self.kafka_ssl_key_password),
        )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
