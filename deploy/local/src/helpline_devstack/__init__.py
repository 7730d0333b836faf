"""Local Kafka, PostgreSQL and SMTP sink for Helpline development and tests."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helpline_devstack.kafka import KafkaError, KafkaNode
    from helpline_devstack.mailsink import MailSink
    from helpline_devstack.postgres import PostgresError, PostgresServer

__all__ = ["KafkaError", "KafkaNode", "MailSink", "PostgresError", "PostgresServer"]

_HOMES = {
    "KafkaError": "kafka",
    "KafkaNode": "kafka",
    "MailSink": "mailsink",
    "PostgresError": "postgres",
    "PostgresServer": "postgres",
}


def __getattr__(name: str) -> object:
    # Lazy, so `python -m helpline_devstack.mailsink` does not import itself twice.
    if name in _HOMES:
        return getattr(importlib.import_module(f"helpline_devstack.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
