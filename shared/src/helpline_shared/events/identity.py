"""Re-export of ``helpline_contracts.events.identity`` (the models are defined there)."""

from helpline_contracts.events.identity import *  # noqa: F403
