"""Re-export of ``helpline_contracts.events.base`` (the models are defined there)."""

from helpline_contracts.events.base import *  # noqa: F403
