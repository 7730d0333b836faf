"""Every event Helpline publishes: one pydantic model per event type, versioned in its name.

Compatible evolution only adds optional fields; anything else is a new type (``...v2``) published
alongside the old one. ``tests/contract`` fails on an incompatible change to a committed schema.
Models live in one module per producing service; this package re-exports them all.
"""

from helpline_contracts.events.base import *  # noqa: F403
from helpline_contracts.events.base import Event, registry
from helpline_contracts.events.identity import *  # noqa: F403
from helpline_contracts.events.notifications import *  # noqa: F403
from helpline_contracts.events.routing import *  # noqa: F403
from helpline_contracts.events.sla import *  # noqa: F403
from helpline_contracts.events.tickets import *  # noqa: F403

EVENT_TYPES: dict[str, type[Event]] = registry()
"""Every event model by its CloudEvents ``type``."""
