"""The event stream as the people with a page open see it: who gets which live message.

Records from ``helpline.routing`` and ``helpline.tickets`` are read loosely (the CloudEvents
headers and the JSON data, no model): the workspace only needs a few fields and must keep working
when a service publishes an event type it does not know yet. Each browser connection is a
:class:`Listener` with a bounded queue; the :class:`Hub` hands each event to the listeners of its
tenant it is meant for (:func:`messages_for`).
"""

import asyncio
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from helpline_shared.envelope import TENANT_HEADER
from helpline_shared.events import (
    AgentPresenceChanged,
    MessageAdded,
    OfferDeclined,
    OfferExpired,
    TicketAssigned,
    TicketMerged,
    TicketOffered,
    TicketStatusChanged,
    TicketUpdated,
)

PRESENCE_CHANGED: Final = AgentPresenceChanged.event_type

TICKET_CHANGES: Final[dict[str, str]] = {
    MessageAdded.event_type: "A new message was added",
    TicketStatusChanged.event_type: "The status changed",
    TicketUpdated.event_type: "The priority, type or tags changed",
    TicketAssigned.event_type: "The ticket was assigned",
    TicketMerged.event_type: "The ticket was merged into another",
}
"""Changes of a ticket that its viewers are told about, as a sentence."""

WANTED: Final = frozenset(
    {
        *TICKET_CHANGES,
        TicketAssigned.event_type,
        TicketOffered.event_type,
        OfferDeclined.event_type,
        OfferExpired.event_type,
        PRESENCE_CHANGED,
    }
)
"""The only event types :func:`messages_for` reads; other records are skipped undecoded."""


class TooManyListeners(Exception):
    """This process keeps as many live connections as it may (``live_max_connections``)."""


@dataclass(frozen=True)
class StreamEvent:
    """One record of the event stream: its type, tenant, ticket and data."""

    type: str
    tenant: str
    ticket_id: str
    data: Mapping[str, Any]

    def text(self, name: str) -> str | None:
        """The data's field ``name`` when it is a string."""
        value = self.data.get(name)
        return value if isinstance(value, str) else None

    @property
    def actor_id(self) -> str | None:
        """The id of who caused it, when the event says."""
        actor = self.data.get("actor")
        return actor.get("id") if isinstance(actor, dict) else None


def decode(headers: Iterable[tuple[str, bytes]], value: bytes | None) -> StreamEvent | None:
    """The event of a Kafka record; None for a type no live page reads (skipped by its
    ``ce_type`` header, its data not parsed) or a record that is not a CloudEvent with data."""
    attributes = {name.lower(): raw.decode("utf-8", "replace") for name, raw in headers}
    if attributes.get("ce_type") not in WANTED:
        return None
    try:
        data = json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    event_type = attributes.get("ce_type")
    tenant = attributes.get(TENANT_HEADER) or data.get("tenant_id")
    if not event_type or not isinstance(tenant, str) or not tenant:
        return None
    ticket = data.get("ticket_id")
    return StreamEvent(event_type, tenant, ticket if isinstance(ticket, str) else "", data)


@dataclass(frozen=True)
class Message:
    """One server-sent event for a browser: its name and JSON data."""

    event: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        """As the ``text/event-stream`` format spells it."""
        return f"event: {self.event}\ndata: {json.dumps(dict(self.data))}\n\n"


RESYNC = Message("resync")
"""Sent instead of the messages a slow connection lost: the page refreshes what it shows."""


@dataclass(eq=False)
class Listener:
    """One browser connection: whose it is, what page it shows, what waits to be sent."""

    tenant: str
    user_id: str
    agent_id: str | None
    ticket_id: str | None
    capacity: int
    queue: deque[Message] = field(init=False)
    dropped: int = 0
    """Messages lost to the cap since the last :meth:`take`."""
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.queue = deque(maxlen=self.capacity)

    def put(self, message: Message) -> None:
        """Queue ``message``; a full queue loses its oldest."""
        if len(self.queue) == self.capacity:
            self.dropped += 1
        self.queue.append(message)
        self._ready.set()

    def take(self) -> list[Message]:
        """Everything queued (a :data:`RESYNC` first when some were lost)."""
        taken = ([RESYNC] if self.dropped else []) + list(self.queue)
        self.queue.clear()
        self.dropped = 0
        self._ready.clear()
        return taken

    async def wait(self, timeout: float) -> list[Message]:
        """The queued messages once there are some, or none after ``timeout`` seconds."""
        if not self.queue:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return []
        return self.take()


def messages_for(listener: Listener, event: StreamEvent) -> list[Message]:
    """What ``listener`` is told of ``event``: only its own tenant's, and only what is its."""
    if event.tenant != listener.tenant:
        return []
    found: list[Message] = []
    mine = listener.agent_id is not None and event.text("agent_id") == listener.agent_id
    if mine and event.type == TicketAssigned.event_type:
        found.append(Message("work", {"kind": "assigned", "ticket_id": event.ticket_id}))
    elif mine and event.type == TicketOffered.event_type:
        found.append(
            Message(
                "work",
                {
                    "kind": "offered",
                    "ticket_id": event.ticket_id,
                    "offer_id": event.text("offer_id"),
                },
            )
        )
    elif mine and event.type in (OfferDeclined.event_type, OfferExpired.event_type):
        found.append(
            Message(
                "work",
                {
                    "kind": "offer_closed",
                    "ticket_id": event.ticket_id,
                    "offer_id": event.text("offer_id"),
                },
            )
        )
    if event.type == PRESENCE_CHANGED and (mine or event.text("user_id") == listener.user_id):
        found.append(
            Message(
                "presence",
                {
                    "presence": event.text("presence"),
                    "previous": event.text("previous"),
                    "reason": event.text("reason"),
                },
            )
        )
    if (
        listener.ticket_id
        and event.ticket_id == listener.ticket_id
        and event.type in TICKET_CHANGES
        and event.actor_id != listener.user_id
    ):
        found.append(
            Message("ticket", {"ticket_id": event.ticket_id, "text": TICKET_CHANGES[event.type]})
        )
    return found


class Hub:
    """The open live connections of this process, by tenant."""

    def __init__(self, queue_size: int, max_listeners: int) -> None:
        self._queue_size = queue_size
        self._max = max_listeners
        self._tenants: dict[str, set[Listener]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def listen(
        self, tenant: str, user_id: str, agent_id: str | None, ticket_id: str | None = None
    ) -> Listener:
        """A new connection's listener; TooManyListeners when the process is full."""
        if self._count >= self._max:
            raise TooManyListeners
        listener = Listener(tenant, user_id, agent_id, ticket_id, self._queue_size)
        self._tenants.setdefault(tenant, set()).add(listener)
        self._count += 1
        return listener

    def leave(self, listener: Listener) -> None:
        """Forget a closed connection."""
        listeners = self._tenants.get(listener.tenant)
        if listeners is None or listener not in listeners:
            return
        listeners.discard(listener)
        self._count -= 1
        if not listeners:
            del self._tenants[listener.tenant]

    def publish(self, event: StreamEvent) -> int:
        """Queue ``event``'s messages for the listeners it is meant for; how many were queued."""
        queued = 0
        for listener in self._tenants.get(event.tenant, ()):
            for message in messages_for(listener, event):
                listener.put(message)
                queued += 1
        return queued

    def tell_viewers(self, tenant: str, ticket_id: str) -> None:
        """Tell the connections showing a ticket that its viewers changed."""
        for listener in self._tenants.get(tenant, ()):
            if listener.ticket_id == ticket_id:
                listener.put(Message("viewers", {"ticket_id": ticket_id}))
