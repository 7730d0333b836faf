"""The ``/v1/deliveries`` routes: the ledger, each message's attempts, and resending."""

import base64
import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from helpline_notify.domain.errors import DeliveryNotFound, NotCancellable, NotResendable
from helpline_notify.domain.model import Attempt, Delivery
from helpline_notify.entrypoints.http_common import ApiOptions, PathKey
from helpline_notify.service_layer import endpoints as use_cases
from helpline_shared.inputs import SafeLine, refuse_unrepresentable_instant
from helpline_shared.runtime.auth import Principal, require
from helpline_shared.runtime.problems import invalid_field, not_found


class DeliveryOut(BaseModel):
    """One entry of the delivery ledger."""

    id: str
    ticket_id: str
    channel: str
    destination: str
    trigger_event_id: str
    trigger_event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    message_id: str | None

    @classmethod
    def of(cls, delivery: Delivery) -> "DeliveryOut":
        """Present ``delivery``."""
        return cls(
            id=delivery.id,
            ticket_id=delivery.ticket_id,
            channel=delivery.channel,
            destination=delivery.destination,
            trigger_event_id=delivery.trigger_event_id,
            trigger_event_type=delivery.trigger_event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
            message_id=delivery.message_id,
        )


class DeliveryPage(BaseModel):
    """One page of the ledger and the cursor of the next, if any."""

    items: list[DeliveryOut]
    next_cursor: str | None


class AttemptOut(BaseModel):
    """One recorded attempt."""

    attempt: int
    started_at: datetime
    latency_ms: float
    outcome: str
    status_code: int | None
    detail: str | None

    @classmethod
    def of(cls, attempt: Attempt) -> "AttemptOut":
        """Present ``attempt``."""
        return cls(
            attempt=attempt.attempt,
            started_at=attempt.started_at,
            latency_ms=attempt.latency_ms,
            outcome=attempt.outcome,
            status_code=attempt.status_code,
            detail=attempt.detail,
        )


def encode_cursor(delivery: Delivery) -> str:
    """An opaque cursor pointing just after ``delivery`` in ledger order."""
    raw = json.dumps([delivery.created_at.isoformat(), delivery.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Read a cursor made by ``encode_cursor``; ``ValueError`` if it is not one."""
    try:
        created_at, delivery_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        # A tampered instant without a zone, or out of range, must not reach the query.
        return refuse_unrepresentable_instant(datetime.fromisoformat(created_at)), str(delivery_id)
    except (ValueError, TypeError) as error:
        raise ValueError("not a cursor issued by this API") from error


def router(options: ApiOptions) -> APIRouter:
    """The ledger routes."""
    api = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])
    reader, resender = require("deliveries.read"), require("deliveries.resend")
    canceller = require("deliveries.cancel")
    uow = options.unit_of_work

    @api.get("", response_model=DeliveryPage)
    async def list_deliveries(
        principal: Annotated[Principal, reader],
        ticket_id: Annotated[SafeLine | None, Query(max_length=128)] = None,
        status: Literal["pending", "delivered", "failed", "suppressed"] | None = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1)] = 50,
    ) -> DeliveryPage:
        """The tenant's delivery ledger (optionally of one ticket or status), oldest first."""
        try:
            after = decode_cursor(cursor) if cursor else None
        except ValueError as error:
            raise invalid_field("cursor", str(error)) from error
        page_size = min(limit, options.max_page_size)
        async with uow() as unit:
            found = await unit.deliveries.page(
                principal.tenant_id,
                ticket_id=ticket_id,
                limit=page_size + 1,
                after=after,
                statuses=(status,) if status else (),
            )
        more = len(found) > page_size
        found = found[:page_size]
        return DeliveryPage(
            items=[DeliveryOut.of(delivery) for delivery in found],
            next_cursor=encode_cursor(found[-1]) if more else None,
        )

    @api.get("/{delivery_id}/attempts", response_model=list[AttemptOut])
    async def list_attempts(
        delivery_id: PathKey, principal: Annotated[Principal, reader]
    ) -> list[AttemptOut]:
        """Every attempt of one message: time, outcome, status, latency, response excerpt."""
        async with uow() as unit:
            if await unit.deliveries.get(principal.tenant_id, delivery_id) is None:
                raise not_found("delivery")
            attempts = await unit.deliveries.attempts(principal.tenant_id, delivery_id)
        return [AttemptOut.of(attempt) for attempt in attempts]

    @api.get("/{delivery_id}", response_model=DeliveryOut)
    async def get_delivery(
        delivery_id: PathKey, principal: Annotated[Principal, reader]
    ) -> DeliveryOut:
        """One entry of the ledger."""
        async with uow() as unit:
            delivery = await unit.deliveries.get(principal.tenant_id, delivery_id)
        if delivery is None:
            raise not_found("delivery")
        return DeliveryOut.of(delivery)

    @api.post("/{delivery_id}/cancel", response_model=DeliveryOut)
    async def cancel(
        delivery_id: PathKey, principal: Annotated[Principal, canceller]
    ) -> DeliveryOut:
        """End a pending delivery for good ("cancelled by operator"; ``NotificationFailed``)."""
        try:
            delivery = await use_cases.cancel_delivery(principal.tenant_id, delivery_id, uow())
        except DeliveryNotFound as error:
            raise not_found("delivery") from error
        except NotCancellable as error:
            raise HTTPException(409, f"delivery: cannot be cancelled: {error}") from error
        return DeliveryOut.of(delivery)

    @api.post("/{delivery_id}/resend", status_code=202, response_model=DeliveryOut)
    async def resend(
        delivery_id: PathKey, principal: Annotated[Principal, resender]
    ) -> DeliveryOut:
        """Send one message again (same ``webhook-id``: receivers can dedup)."""
        try:
            await use_cases.resend_delivery(principal.tenant_id, delivery_id, uow())
        except DeliveryNotFound as error:
            raise not_found("delivery") from error
        except NotResendable as error:
            raise HTTPException(
                409, "delivery: it was suppressed before it was composed; nothing to resend"
            ) from error
        options.wake_worker()
        async with uow() as unit:
            delivery = await unit.deliveries.get(principal.tenant_id, delivery_id)
        if delivery is None:
            raise not_found("delivery")
        return DeliveryOut.of(delivery)

    return api
