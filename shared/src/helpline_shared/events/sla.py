"""Re-export of ``helpline_contracts.events.sla`` (the models are defined there)."""

from helpline_contracts.events.sla import *  # noqa: F403
