"""Every event model, defined in the ``helpline-contracts`` distribution and re-exported here.

The models live in ``helpline_contracts.events`` so that partners can install them without the
runtime; services keep importing them from ``helpline_shared.events``.
"""

from helpline_contracts.events import *  # noqa: F403
from helpline_contracts.events import EVENT_TYPES as EVENT_TYPES
from helpline_contracts.events import Event as Event
from helpline_contracts.events import registry as registry
