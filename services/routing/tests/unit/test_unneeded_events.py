"""Events that ask nothing of routing cost no transaction and no inbox row."""

from routing_support import Factory, consume
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_shared.envelope import new_event_id
from helpline_shared.events import Event, MessageAdded, SlaEscalated
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.testing import (
    StatementLog,
    consumer_record,
)


def customer_reply() -> MessageAdded:
    return MessageAdded(
        tenant_id="acme",
        ticket_id="t-1",
        occurred_at=utcnow(),
        message_id=new_event_id(),
        author_role="requester",
        public=True,
        channel="email",
        body="Any news?",
    )


def warning_only() -> SlaEscalated:
    return SlaEscalated.model_validate(
        {
            "tenant_id": "acme",
            "ticket_id": "t-1",
            "occurred_at": utcnow(),
            "metric": "first_response",
            "level": 1,
            "deadline": utcnow(),
            "notify": ["team_lead"],
            "clock_version": 1,
            "reason": "escalation level 1: at the deadline",
        }
    )


async def test_customer_messages_and_plain_escalations_cost_no_statement(
    database: tuple[Factory, AsyncEngine],
) -> None:
    uow, engine = database
    events: list[Event] = [customer_reply(), warning_only()]
    log = StatementLog(engine)
    producer = await consume(
        uow, [consumer_record(event, offset=n) for n, event in enumerate(events)]
    )
    assert producer.sent == []
    # Was a transaction: BEGIN, the inbox claim, COMMIT.
    assert log.statements == []
