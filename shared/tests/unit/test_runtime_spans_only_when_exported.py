"""With no exporter, the consumer and the relay make no span, and a ticket stays one trace."""

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from runtime_support import changed, inbox, outbox
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import Envelope, to_record
from helpline_shared.events import TicketStatusChanged
from helpline_shared.runtime import telemetry
from helpline_shared.runtime.consumer import DeadLetters, HandlerTable, TableConsumer
from helpline_shared.runtime.outbox import OutboxRelay, trace_headers
from helpline_shared.runtime.testing import FakeKafkaConsumer, RecordingProducer, raw_record
from helpline_shared.runtime.uow import SqlUnitOfWork

UPSTREAM_TRACE = "0af7651916cd43dd8448eb211c80319c"
UPSTREAM = f"00-{UPSTREAM_TRACE}-b7ad6b7169203331-01"


async def test_a_record_applied_without_a_tracer_stays_in_its_trace(
    engine: AsyncEngine,
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    seen: list[str] = []

    async def apply(uow: SqlUnitOfWork, envelope: Envelope) -> None:
        seen.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))
        uow.publish(changed("t1-next"))

    consumer = TableConsumer(
        table=HandlerTable("test", {TicketStatusChanged: apply}),
        unit_of_work=lambda: SqlUnitOfWork(
            sessions, outbox_table=outbox, inbox_table=inbox, source="/t"
        ),
        dead_letters=DeadLetters(RecordingProducer(), "g"),
        tracer=None,
        group="g",
    )
    record = to_record(
        changed("t1"), source="/tests", event_id=None, extra_headers=[("traceparent", UPSTREAM)]
    )
    await consumer.consume(
        [raw_record(record.headers, record.value, offset=0)], FakeKafkaConsumer()
    )

    assert seen == [UPSTREAM_TRACE]
    async with engine.connect() as connection:
        (headers,) = (await connection.execute(select(outbox.c.headers))).scalars()
    assert dict(headers)["traceparent"].split("-")[1] == UPSTREAM_TRACE
    assert trace_headers() == []  # the record's context was made current only while applied


async def test_the_relay_of_a_provider_without_exporters_sends_the_staged_headers_spanless(
    engine: AsyncEngine,
) -> None:
    silent = telemetry.tracer_provider(
        telemetry.service_resource("t", service_version="1", environ={}), environ={}
    )
    exported = InMemorySpanExporter()  # would see a span made through the provider
    silent.add_span_processor(SimpleSpanProcessor(exported))
    producer = RecordingProducer()
    relay = OutboxRelay(
        engine=engine, table=outbox, producer=producer, service="t", tracer_provider=silent
    )
    relay._running, relay._behind = True, False
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with SqlUnitOfWork(
        sessions, outbox_table=outbox, inbox_table=inbox, source="/t", relay=relay
    ) as uow:
        with trace.use_span(
            trace.NonRecordingSpan(
                trace.SpanContext(
                    int(UPSTREAM_TRACE, 16),
                    0xB7AD6B7169203331,
                    is_remote=True,
                    trace_flags=trace.TraceFlags(1),
                )
            )
        ):
            uow.publish(changed("t1"))
        await uow.commit()

    assert await relay.publish_handed() == 1
    ((_, _, headers),) = producer.sent
    assert headers["traceparent"] == UPSTREAM
    assert exported.get_finished_spans() == ()
