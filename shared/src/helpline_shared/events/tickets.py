"""Re-export of ``helpline_contracts.events.tickets`` (the models are defined there)."""

from helpline_contracts.events.tickets import *  # noqa: F403
