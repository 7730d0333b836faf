"""Ticket routing API: a ticket's routing history, manual assignment, answering offers."""

from fastapi import APIRouter, HTTPException, Query

from helpline_routing.domain.errors import (
    AgentNotFound,
    NoCapacityLeft,
    NotYourAgent,
    OfferNotFound,
    OfferNotOpen,
    TicketClosed,
    TicketNotRouted,
)
from helpline_routing.entrypoints.access import caller_of, not_yours
from helpline_routing.entrypoints.schemas import (
    AssignmentIn,
    DeclineIn,
    OfferOut,
    TicketRoutingOut,
)
from helpline_routing.service_layer import admin, offers
from helpline_routing.service_layer.unit_of_work import UnitOfWorkFactory
from helpline_shared.runtime.auth import Principal, event_actor, require
from helpline_shared.runtime.problems import not_found


def router(unit_of_work: UnitOfWorkFactory) -> APIRouter:
    """The ``/v1/tickets/{id}/...`` and ``/v1/offers`` routes on ``unit_of_work``."""
    api = APIRouter(tags=["ticket routing"])
    reader = require("routing.read")
    assigner = require("tickets.assign")
    responder = require("offers.respond")

    @api.get("/v1/tickets/{ticket_id}/routing", response_model=TicketRoutingOut)
    async def ticket_routing(ticket_id: str, principal: Principal = reader) -> TicketRoutingOut:
        """Where the ticket stands, and every routing decision with its explanation."""
        try:
            ticket, history = await admin.ticket_routing(
                principal.tenant_id, ticket_id, unit_of_work().read_only()
            )
        except TicketNotRouted as error:
            raise not_found("ticket") from error
        return TicketRoutingOut.of(ticket, history)

    @api.put("/v1/tickets/{ticket_id}/assignment", response_model=TicketRoutingOut)
    async def assign(
        ticket_id: str, body: AssignmentIn, principal: Principal = assigner
    ) -> TicketRoutingOut:
        """Assign or reassign directly (leads, admins); exceeding capacity needs a flag."""
        try:
            await admin.assign_directly(
                admin.AssignDirectly(
                    tenant_id=principal.tenant_id,
                    ticket_id=ticket_id,
                    agent_id=body.agent_id,
                    exceed_capacity=body.exceed_capacity,
                    actor=event_actor(principal),
                ),
                unit_of_work(),
            )
            ticket, history = await admin.ticket_routing(
                principal.tenant_id, ticket_id, unit_of_work()
            )
        except TicketNotRouted as error:
            raise not_found("ticket") from error
        except AgentNotFound as error:
            raise not_found("agent") from error
        except NoCapacityLeft as error:
            raise HTTPException(
                409,
                "the agent has no capacity left on the ticket's channel;"
                " set exceed_capacity to override",
            ) from error
        except TicketClosed as error:
            raise HTTPException(409, "the ticket is solved or closed") from error
        return TicketRoutingOut.of(ticket, history)

    @api.get("/v1/offers", response_model=list[OfferOut])
    async def list_offers(
        principal: Principal = reader,
        agent_id: str | None = Query(default=None, min_length=1, max_length=64),
        status: offers.OfferStatus | None = None,
        limit: int = Query(default=50, ge=1, le=200),
    ) -> list[OfferOut]:
        """Offers, newest first: an agent's own (another agent's is 403), any for leads."""
        try:
            found = await offers.list_offers(
                offers.ListOffers(
                    tenant_id=principal.tenant_id,
                    caller=caller_of(principal),
                    agent_id=agent_id,
                    status=status,
                    limit=limit,
                ),
                unit_of_work().read_only(),
            )
        except NotYourAgent as error:
            raise not_yours() from error
        return [OfferOut.of(offer) for offer in found]

    @api.get("/v1/offers/{offer_id}", response_model=OfferOut)
    async def get_offer(offer_id: str, principal: Principal = reader) -> OfferOut:
        """One offer and its outcome."""
        async with unit_of_work().read_only() as uow:
            offer = await uow.offers.get(offer_id)
        if offer is None or offer.tenant_id != principal.tenant_id:
            raise not_found("offer")
        return OfferOut.of(offer)

    async def answer(offer_id: str, principal: Principal, accept: bool, reason: str) -> OfferOut:
        try:
            offer = await offers.answer_offer(
                offers.AnswerOffer(
                    tenant_id=principal.tenant_id,
                    offer_id=offer_id,
                    accept=accept,
                    reason=reason,
                    caller=caller_of(principal),
                ),
                unit_of_work(),
            )
        except OfferNotFound as error:
            raise not_found("offer") from error
        except NotYourAgent as error:
            raise not_yours() from error
        except OfferNotOpen as error:
            raise HTTPException(409, "the offer is no longer open") from error
        return OfferOut.of(offer)

    @api.post("/v1/offers/{offer_id}/accept", response_model=OfferOut)
    async def accept(offer_id: str, principal: Principal = responder) -> OfferOut:
        """Accept the offer (agents: only their own): the ticket is assigned to its agent."""
        return await answer(offer_id, principal, True, "accepted")

    @api.post("/v1/offers/{offer_id}/decline", response_model=OfferOut)
    async def decline(offer_id: str, body: DeclineIn, principal: Principal = responder) -> OfferOut:
        """Decline the offer (agents: only their own): it goes to the next candidate."""
        return await answer(offer_id, principal, False, body.reason)

    return api
