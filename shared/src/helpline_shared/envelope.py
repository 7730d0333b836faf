"""The CloudEvents Kafka binding, defined in ``helpline_contracts.envelope`` (re-exported)."""

from helpline_contracts.envelope import *  # noqa: F403
