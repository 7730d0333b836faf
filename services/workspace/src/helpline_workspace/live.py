"""Live pages: server-sent events fed by the event stream, presence kept alive, who is viewing.

One Kafka consumer per process reads ``helpline.routing`` and ``helpline.tickets`` from their end
(a consumer group of its own: every process sees every event; it commits nothing) and hands each
event to the browser connections it is meant for (:mod:`helpline_workspace.events`). Each page
opens one connection (``GET /live/events``, ``static/live.js``); a ticket page's connection also
marks its person as viewing that ticket (:mod:`helpline_workspace.viewers`).

Presence goes to routing with the person's own token: the header's control sets it, the open page
sends heartbeats and sets the person away after ``presence_idle_minutes`` without activity
(routing publishes the change as an event, which comes back here to every page of the person).
"""

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI, Form, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from helpline_shared.kafka_acls import READER_ACCESS, reader_group
from helpline_shared.kafka_security import aiokafka_options
from helpline_workspace.apis import ApiError, Apis
from helpline_workspace.config import WorkspaceSettings
from helpline_workspace.events import Hub, Listener, Message, TooManyListeners, decode
from helpline_workspace.sessions import Person
from helpline_workspace.viewers import TooManyViewers, ViewerRegistry
from helpline_workspace.web import SignedIn, render

log = logging.getLogger("helpline.workspace.live")
router = APIRouter(prefix="/live")

AGENT_KEY: Final = "live.agent_id"
"""Session data: the person's routing agent id ("" when they have none)."""
NOTE_KEY: Final = "live.presence_note"
"""Session data: why the presence is away, when the page set it (idle)."""
TICKET_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
PRESENCES: Final = ("available", "away", "offline")
ASSIGNMENT_WAIT: Final = 15.0
"""Seconds start-up waits for the consumer's partitions (so no event after start is missed)."""
RETRY_SECONDS: Final = 5.0

TicketId = Annotated[str, Path(pattern=TICKET_ID, description="The ticket's id")]
Presence = Literal["available", "away", "offline"]


@dataclass
class Live:
    """This process's live state: connections, viewers, and the tasks feeding them."""

    settings: WorkspaceSettings
    hub: Hub
    viewers: ViewerRegistry
    assigned: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def keepalive(self) -> float:
        """Seconds between a connection's keep-alives (which renew its viewing)."""
        return self.settings.live_viewer_seconds / 3

    def see(self, person: Person, ticket_id: str, connection: str) -> None:
        """Mark ``connection`` as showing the ticket; tell the others when that changes."""
        with contextlib.suppress(TooManyViewers):
            if self.viewers.view(person.tenant, ticket_id, connection, person.user_id, person.name):
                self.hub.tell_viewers(person.tenant, ticket_id)

    def unsee(self, person: Person, ticket_id: str, connection: str) -> None:
        """A ticket page closed."""
        if self.viewers.leave(person.tenant, ticket_id, connection):
            self.hub.tell_viewers(person.tenant, ticket_id)

    def sweep(self) -> None:
        """Expire silent viewers and tell the pages that showed them."""
        for tenant, ticket_id in self.viewers.sweep():
            self.hub.tell_viewers(tenant, ticket_id)


def new_live(settings: WorkspaceSettings) -> Live:
    """Live state for ``settings`` (nothing started)."""
    return Live(
        settings,
        Hub(settings.live_queue_size, settings.live_max_connections),
        ViewerRegistry(settings.live_viewer_seconds),
    )


def live_of(request: Request) -> Live:
    """The app's live state."""
    live: Live = request.app.state.live
    return live


def consumer_group() -> str:
    """A consumer group of this process alone (each process must see every event)."""
    return f"{reader_group('workspace')}{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"


class Positioned(ConsumerRebalanceListener):
    """Sets ``ready`` once the consumer has its partitions."""

    def __init__(self, ready: asyncio.Event) -> None:
        self.ready = ready

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to commit: live updates start from the end again."""

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """From now on no new event is missed."""
        self.ready.set()


async def _feed(live: Live) -> None:
    """Read the event stream into the hub for as long as the app runs; retry when Kafka fails."""
    settings = live.settings
    topics = [settings.topic_prefix + topic for topic in READER_ACCESS["workspace"].topics]
    while True:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=consumer_group(),
            auto_offset_reset="latest",
            enable_auto_commit=False,
            client_id="helpline-workspace",
            **aiokafka_options(settings.kafka_security()),
        )
        try:
            consumer.subscribe(topics, listener=Positioned(live.assigned))
            await consumer.start()
            async for record in consumer:
                event = decode(record.headers or (), record.value)
                if event is not None:
                    live.hub.publish(event)
        except KafkaError as error:
            log.warning("live updates paused, the event stream is unreachable: %s", error)
        finally:
            with contextlib.suppress(KafkaError):
                await consumer.stop()
        live.assigned.set()  # don't hold start-up on a broker that is not there
        await asyncio.sleep(RETRY_SECONDS)


async def _sweep(live: Live) -> None:
    while True:
        await asyncio.sleep(live.keepalive)
        live.sweep()


async def start(app: FastAPI) -> None:
    """Start reading the event stream for the browsers' live connections."""
    live = new_live(app.state.settings)
    app.state.live = live
    if not live.settings.live_updates:
        return
    live.tasks = [asyncio.create_task(_feed(live)), asyncio.create_task(_sweep(live))]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(live.assigned.wait(), ASSIGNMENT_WAIT)


async def stop(app: FastAPI) -> None:
    """Stop it."""
    live: Live | None = getattr(app.state, "live", None)
    if live is None:
        return
    for task in live.tasks:
        task.cancel()
    for task in live.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- presence -----------------------------------------------------------------------------


async def find_agent(apis: Apis) -> dict[str, Any] | None:
    """The person's routing agent (remembered in the session), or None."""
    found = await apis.get("routing", "/v1/agents", user_id=apis.person.user_id)
    agent: dict[str, Any] | None = found[0] if found else None
    apis.session.data[AGENT_KEY] = agent["id"] if agent else ""
    return agent


async def agent_id_of(apis: Apis) -> str | None:
    """The person's agent id, asking routing once per session."""
    known = apis.session.data.get(AGENT_KEY)
    if known is None:
        try:
            agent = await find_agent(apis)
        except ApiError:
            return None
        return agent["id"] if agent else None
    return str(known) or None


def _presence_control(request: Request, apis: Apis, agent: dict[str, Any] | None) -> Response:
    away = agent is not None and agent.get("presence") == "away"
    note = str(apis.session.data.get(NOTE_KEY, "")) if away else ""
    return render(request, "live_presence.html", agent=agent, presences=PRESENCES, note=note)


@router.get("/presence")
async def presence(request: Request, apis: SignedIn) -> Response:
    """The person's presence control (nothing for a person who is no agent)."""
    try:
        agent = await find_agent(apis)
    except ApiError:
        agent = None
    return _presence_control(request, apis, agent)


@router.post("/presence")
async def set_presence(
    request: Request,
    apis: SignedIn,
    presence: Annotated[Presence, Form()],
    idle: Annotated[bool, Form()] = False,
) -> Response:
    """Set the person's presence at routing, with their own token."""
    agent_id = await agent_id_of(apis)
    if agent_id is None:
        raise HTTPException(409, "You are not an agent, so you have no presence to set.")
    agent = await apis.put("routing", f"/v1/agents/{agent_id}/presence", {"status": presence})
    minutes = live_of(request).settings.presence_idle_minutes
    apis.session.data[NOTE_KEY] = (
        f"Set to away after {minutes} minutes without activity." if idle else ""
    )
    if request.headers.get("hx-request") != "true":
        apis.session.flash.append(f"Your presence is now {presence}.")
        return RedirectResponse("/work", status_code=303)
    return _presence_control(request, apis, agent)


@router.post("/heartbeat", status_code=204)
async def heartbeat(apis: SignedIn) -> Response:
    """The person's page is open and in use: tell routing (postpones its idle timeout)."""
    agent_id = await agent_id_of(apis)
    if agent_id is not None:
        await apis.post("routing", f"/v1/agents/{agent_id}/heartbeat")
    return Response(status_code=204)


# -- viewers ------------------------------------------------------------------------------


@router.post("/tickets/{ticket_id}/typing", status_code=204)
async def typing(request: Request, apis: SignedIn, ticket_id: TicketId) -> Response:
    """The person is writing a reply or note on the ticket."""
    live = live_of(request)
    person = apis.person
    with contextlib.suppress(TooManyViewers):
        if live.viewers.typing(person.tenant, ticket_id, person.user_id, person.name):
            live.hub.tell_viewers(person.tenant, ticket_id)
    return Response(status_code=204)


@router.get("/tickets/{ticket_id}/viewers")
async def viewers(request: Request, apis: SignedIn, ticket_id: TicketId) -> Response:
    """Who else is viewing or replying to the ticket now."""
    person = apis.person
    others = live_of(request).viewers.viewers(person.tenant, ticket_id, excluding=person.user_id)
    return render(request, "live_viewers.html", viewers=others)


# -- My work --------------------------------------------------------------------------------


@router.get("/work/notice")
async def work_notice(
    request: Request,
    apis: SignedIn,
    kind: Annotated[Literal["assigned", "offered"], Query()],
    ticket: Annotated[str, Query(pattern=TICKET_ID)],
) -> Response:
    """One line announcing a new assignment or offer, with a link to the ticket."""
    try:
        found = await apis.get("intake", f"/v1/tickets/{ticket}")
        subject = str(found.get("subject") or ticket)
    except ApiError:
        subject = ticket
    return render(request, "live_notice.html", kind=kind, ticket_id=ticket, subject=subject)


# -- the connection -------------------------------------------------------------------------


async def _stream(
    live: Live, apis: Apis, listener: Listener, ticket_id: str | None
) -> AsyncIterator[str]:
    person = apis.person
    connection = secrets.token_urlsafe(12)
    try:
        if ticket_id:
            live.see(person, ticket_id, connection)
        yield "retry: 5000\n\n"
        yield Message("ready").encode()
        while apis.session.person is not None:
            messages = await listener.wait(live.keepalive)
            if ticket_id:
                live.see(person, ticket_id, connection)
            if not messages:
                yield ": keep-alive\n\n"
            for message in messages:
                yield message.encode()
    finally:
        live.hub.leave(listener)
        if ticket_id:
            live.unsee(person, ticket_id, connection)


@router.get("/events")
async def events(
    request: Request, apis: SignedIn, ticket: Annotated[str | None, Query(pattern=TICKET_ID)] = None
) -> Response:
    """This page's live messages as server-sent events: work, presence, ticket, viewers."""
    live = live_of(request)
    person = apis.person
    agent_id = await agent_id_of(apis)
    try:
        listener = live.hub.listen(person.tenant, person.user_id, agent_id, ticket)
    except TooManyListeners as error:
        raise HTTPException(
            503, "Too many live connections; the page works without live updates."
        ) from error
    return StreamingResponse(
        _stream(live, apis, listener, ticket),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
