"""Helpline's public event contracts: every event model, by name and by CloudEvents ``type``.

``from helpline_contracts import TicketCreated`` is all a partner needs to validate a payload;
``EVENT_TYPES`` maps each CloudEvents ``type`` to its model; ``helpline_contracts.envelope``
decodes a Kafka record and ``helpline_contracts.topics`` names the topics. Pydantic is the only
dependency.
"""

from helpline_contracts import topics as topics
from helpline_contracts.events import *  # noqa: F403
from helpline_contracts.events import EVENT_TYPES as EVENT_TYPES
from helpline_contracts.events import Event as Event
