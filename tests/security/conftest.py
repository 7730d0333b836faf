"""A second broker for the security tests: SASL_SSL only, ACLs enforced, started once a session.

Its ports come from HELPLINE_TEST_SECURE_KAFKA_PORT (and the next one for its controller), or
are free ones; it lives next to the plaintext broker of the root conftest.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline_devstack._proc import free_ports
from helpline_devstack.kafka import KafkaNode

ROOT = Path(__file__).parents[2]
TEST_HOME = Path(os.environ.get("HELPLINE_TEST_HOME", ROOT / ".helpline" / "test"))


@pytest.fixture(scope="session")
def secure_kafka() -> Iterator[KafkaNode]:
    """The session's SASL_SSL broker with the StandardAuthorizer; ``admin`` is its super user."""
    configured = os.environ.get("HELPLINE_TEST_SECURE_KAFKA_PORT")
    port, controller = (int(configured), int(configured) + 1) if configured else free_ports(2)
    node = KafkaNode(
        TEST_HOME / "secure-kafka", port=port, controller_port=controller, security="sasl_ssl"
    )
    node.start()
    yield node
    node.stop()
