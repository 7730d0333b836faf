"""Kafka topic names, defined in ``helpline_contracts.topics`` and re-exported here."""

from helpline_contracts.topics import *  # noqa: F403
