"""Offers answered over the API, and routing's durable timers: expiry, hand-back, relaxation, idle.

Timer callbacks run inside the timer loop's unit of work, which commits them; they never commit.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from helpline_routing.adapters.tickets import Offer
from helpline_routing.domain.errors import (
    NotYourAgent,
    OfferNotFound,
    OfferNotOpen,
)
from helpline_routing.domain.model import KEY, Caller
from helpline_routing.domain.tickets import RoutedTicket
from helpline_routing.service_layer import decisions
from helpline_routing.service_layer.unit_of_work import RoutingUnitOfWork
from helpline_shared.events import (
    Actor,
    OfferDeclined,
    OfferExpired,
    RoutingExplanation,
    TicketRoutingRelaxed,
)
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.timers import Timer, TimerTable

log = logging.getLogger(__name__)

ROUTING = Actor(type="system")
"""The actor of what routing does by itself (the idle timeout)."""


OfferStatus = Literal["pending", "accepted", "declined", "expired", "withdrawn"]
STATUS_OF_STATE: dict[str, OfferStatus] = {
    "offered": "pending",
    "accepted": "accepted",
    "declined": "declined",
    "handed_back": "declined",
    "expired": "expired",
    "withdrawn": "withdrawn",
}
"""An offer's status as the API names it (a handed-back offer was declined for its agent, and
one whose ticket was solved while offered is withdrawn)."""


def status_of(offer: Offer) -> OfferStatus:
    """The offer's status as the API names it."""
    return STATUS_OF_STATE.get(offer.state, "withdrawn")


@dataclass(frozen=True)
class ListOffers:
    """The offers a caller asks to see: one agent's (an agent: only their own), by status."""

    tenant_id: str
    caller: Caller
    agent_id: str | None = None
    status: OfferStatus | None = None
    limit: int = 50


async def list_offers(query: ListOffers, uow: RoutingUnitOfWork) -> list[Offer]:
    """Newest first; an agent sees their own offers only (another agent's is ``NotYourAgent``)."""
    async with uow:
        agent_id = query.agent_id
        if not query.caller.sees_every_offer:
            own = (
                await uow.agents.by_user(query.tenant_id, query.caller.user_id)
                if query.caller.user_id
                else None
            )
            if agent_id is not None and (own is None or own.id != agent_id):
                raise NotYourAgent(agent_id)
            if own is None:
                return []
            agent_id = own.id
        states = tuple(state for state, status in STATUS_OF_STATE.items() if status == query.status)
        return await uow.offers.listed(
            query.tenant_id, agent_id=agent_id, states=states, limit=query.limit
        )


@dataclass(frozen=True)
class AnswerOffer:
    """An agent accepts or declines an offer."""

    tenant_id: str
    offer_id: str
    accept: bool
    reason: str = "declined by the agent"
    caller: Caller = KEY


async def _open_offer(uow: RoutingUnitOfWork, offer_id: str) -> tuple[Offer, RoutedTicket] | None:
    offer = await uow.offers.get(offer_id)
    if offer is None or offer.state != "offered":
        return None
    ticket = await uow.tickets.get(offer.ticket_id, lock=True)
    if ticket is None or ticket.offer_id != offer.id:
        return None
    return offer, ticket


async def answer_offer(command: AnswerOffer, uow: RoutingUnitOfWork) -> Offer:
    """Accept (the ticket is assigned) or decline (it goes to the next candidate)."""
    now = utcnow()
    async with uow:
        offer = await uow.offers.get(command.offer_id)
        if offer is None or offer.tenant_id != command.tenant_id:
            raise OfferNotFound(command.offer_id)
        offered_to = await uow.agents.get(offer.tenant_id, offer.agent_id)
        if offered_to is not None and not command.caller.may_answer_offers_of(offered_to):
            raise NotYourAgent(offer.agent_id)
        found = await _open_offer(uow, command.offer_id)
        if found is None:
            raise OfferNotOpen(command.offer_id)
        offer, ticket = found
        agent = await uow.agents.get(offer.tenant_id, offer.agent_id)
        if agent is None:
            raise OfferNotOpen(command.offer_id)
        settings = await uow.config.settings(offer.tenant_id)
        agent.record_response(now)
        await uow.agents.record_offer_outcome(agent)
        await decisions.watch_idle(uow, agent, settings)
        if command.accept:
            await uow.offers.close(offer.id, "accepted", now)
            await decisions.assign(
                uow,
                ticket,
                agent,
                RoutingExplanation.model_validate(offer.explanation),
                now,
                offer_id=offer.id,
            )
        else:
            await uow.offers.close(offer.id, "declined", now)
            await _return_offer(uow, offer, ticket, turned_down=True)
            uow.publish(
                OfferDeclined(
                    tenant_id=offer.tenant_id,
                    ticket_id=offer.ticket_id,
                    occurred_at=now,
                    offer_id=offer.id,
                    agent_id=offer.agent_id,
                    reason=command.reason,
                )
            )
            await decisions.record(
                uow, ticket, "declined", f"{offer.agent_id} declined: {command.reason}", now
            )
            await decisions.route(uow, ticket, settings, now)
        await uow.commit()
        closed = await uow.offers.get(offer.id)
    assert closed is not None
    return closed


async def _return_offer(
    uow: RoutingUnitOfWork, offer: Offer, ticket: RoutedTicket, *, turned_down: bool
) -> None:
    if ticket.counts_load:
        await uow.agents.release(offer.tenant_id, offer.agent_id, ticket.channel)
    if turned_down:
        ticket.turn_down(offer.agent_id)
    else:
        ticket.hand_back()


async def _expire_offer(uow: RoutingUnitOfWork, timer: Timer) -> None:
    found = await _open_offer(uow, str(timer.payload["offer_id"]))
    if found is None:
        return
    offer, ticket = found
    now = utcnow()
    settings = await uow.config.settings(offer.tenant_id)
    await uow.offers.close(offer.id, "expired", now)
    await _return_offer(uow, offer, ticket, turned_down=True)
    agent = await uow.agents.get(offer.tenant_id, offer.agent_id)
    went_away = False
    if agent is not None:
        previous = agent.presence
        went_away = agent.record_expired_offer(settings.expiries_before_away)
        await uow.agents.record_offer_outcome(agent)
        if went_away:
            await decisions.hand_back_later(uow, agent.id, now)
            decisions.presence_changed(uow, agent, previous, "idle", now, ROUTING)
    uow.publish(
        OfferExpired(
            tenant_id=offer.tenant_id,
            ticket_id=offer.ticket_id,
            occurred_at=now,
            offer_id=offer.id,
            agent_id=offer.agent_id,
            expires_at=offer.expires_at,
            agent_set_away=went_away,
        )
    )
    await decisions.record(
        uow,
        ticket,
        "expired",
        f"offer to {offer.agent_id} expired" + ("; the agent is now away" if went_away else ""),
        now,
    )
    await decisions.route(uow, ticket, settings, now)


async def _hand_back(uow: RoutingUnitOfWork, timer: Timer) -> None:
    found = await _open_offer(uow, str(timer.payload["offer_id"]))
    if found is None:
        return
    offer, ticket = found
    now = utcnow()
    agent = await uow.agents.get(offer.tenant_id, offer.agent_id)
    presence = agent.presence if agent else "gone"
    await uow.offers.close(offer.id, "handed_back", now)
    await _return_offer(uow, offer, ticket, turned_down=False)
    reason = f"handed back: the agent is {presence}"
    uow.publish(
        OfferDeclined(
            tenant_id=offer.tenant_id,
            ticket_id=offer.ticket_id,
            occurred_at=now,
            offer_id=offer.id,
            agent_id=offer.agent_id,
            handed_back=True,
            reason=reason,
        )
    )
    await decisions.record(uow, ticket, "handed_back", reason, now)
    await decisions.route(uow, ticket, await uow.config.settings(offer.tenant_id), now)


async def _relax(uow: RoutingUnitOfWork, timer: Timer) -> None:
    ticket = await uow.tickets.get(str(timer.payload["ticket_id"]), lock=True)
    if (
        ticket is None
        or ticket.state != "waiting"
        or ticket.queue_entries != int(timer.payload["entries"])
        or ticket.relax_step + 1 != int(timer.payload["step"])
    ):
        return
    settings = await uow.config.settings(ticket.tenant_id)
    relaxation = ticket.next_relaxation(settings)
    if relaxation is None:
        return
    now = utcnow()
    ticket.relax(relaxation)
    reason = (
        f"optional skill {relaxation.dropped_skill} dropped"
        if relaxation.dropped_skill
        else f"widened to team {relaxation.widened_to_team}"
    )
    reason += f" after waiting since {ticket.queued_at.isoformat()}"
    uow.publish(
        TicketRoutingRelaxed(
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.ticket_id,
            occurred_at=now,
            step=relaxation.step,
            dropped_skill=relaxation.dropped_skill,
            widened_to_team=relaxation.widened_to_team,
            reason=reason,
        )
    )
    await decisions.record(uow, ticket, "relaxed", reason, now)
    await decisions.route(uow, ticket, settings, now)
    if ticket.state == "waiting":
        await decisions.schedule_relaxation(uow, ticket, settings)


async def _idle(uow: RoutingUnitOfWork, timer: Timer) -> None:
    agent = await uow.agents.get(str(timer.payload["tenant_id"]), str(timer.payload["agent_id"]))
    if agent is None or agent.presence != "available":
        return
    settings = await uow.config.settings(agent.tenant_id)
    now = utcnow()
    if settings.idle_timeout_seconds <= 0 or (
        now - agent.idle_since() < timedelta(seconds=settings.idle_timeout_seconds)
    ):
        return
    await uow.agents.set_presence(agent.tenant_id, agent.id, "away")
    await decisions.hand_back_later(uow, agent.id, now)
    agent.presence = "away"
    decisions.presence_changed(uow, agent, "available", "idle", now, ROUTING)
    log.info("agent set away after idle timeout", extra={"agent_id": agent.id})


def timer_table() -> TimerTable[RoutingUnitOfWork]:
    """Routing's timer loop: offer expiry and hand-back, queue relaxation, agent idle."""
    return TimerTable(
        {
            decisions.OFFER_EXPIRY: _expire_offer,
            decisions.HAND_BACK: _hand_back,
            decisions.RELAXATION: _relax,
            decisions.AGENT_IDLE: _idle,
        }
    )


fire_timer = timer_table()
"""Fire one of routing's timers in the caller's unit of work (tests, tools)."""
