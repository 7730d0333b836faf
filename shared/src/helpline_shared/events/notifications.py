"""Re-export of ``helpline_contracts.events.notifications`` (the models are defined there)."""

from helpline_contracts.events.notifications import *  # noqa: F403
