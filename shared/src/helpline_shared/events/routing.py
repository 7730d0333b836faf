"""Re-export of ``helpline_contracts.events.routing`` (the models are defined there)."""

from helpline_contracts.events.routing import *  # noqa: F403
