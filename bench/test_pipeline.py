"""Fast checks of the pipeline benchmark's own parts: load generator, fan-out, figures.

Run: ``.venv/bin/python -m pytest bench/test_pipeline.py`` (no broker, no services).
"""

import asyncio
import itertools
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pipeline

from helpline_devstack.testing import Record

PREFIX = "bench_x."


async def _server(unanswered: list[int]) -> asyncio.Server:
    """Answer each request 201 after 20 ms, in order; note the requests waiting on arrival."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        waiting: asyncio.Queue[int] = asyncio.Queue()

        async def answer() -> None:
            while True:
                number = await waiting.get()
                await asyncio.sleep(0.02)
                body = json.dumps({"id": f"t{id(writer)}-{number}"}).encode()
                writer.write(
                    b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
                waiting.task_done()

        answering = asyncio.create_task(answer())
        for number in itertools.count():
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(
                next(
                    line
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ).split(b":")[1]
            )
            await reader.readexactly(length)
            waiting.put_nowait(number)
            unanswered.append(waiting.qsize())
        await waiting.join()
        answering.cancel()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def test_the_load_generator_keeps_several_requests_in_flight_on_a_connection() -> None:
    unanswered: list[int] = []
    server = await _server(unanswered)
    port = server.sockets[0].getsockname()[1]
    post = pipeline._Post(f"http://127.0.0.1:{port}", "token")
    count = pipeline.CONNECTIONS * pipeline.PIPELINE_DEPTH
    async with server:
        await post.run(None, 0, count)
    assert len(post.created) == count and not post.failed
    # One request at a time per connection would never leave more than one unanswered.
    assert max(unanswered) > 1


async def test_a_rate_phase_posts_at_the_offered_rate() -> None:
    server = await _server([])
    port = server.sockets[0].getsockname()[1]
    post = pipeline._Post(f"http://127.0.0.1:{port}", "token")
    async with server:
        await post.run(50.0, 0.2, None)
    assert 9 <= len(post.created) <= 11


async def test_responses_with_a_length_or_in_chunks_are_read() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
        b"HTTP/1.1 422 Unprocessable\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert await pipeline._response(reader) == (201, b"{}")
    assert await pipeline._response(reader) == (422, b"abcde")


def _record(topic: str, kind: str, event_id: str, source: str = "") -> Record:
    headers = {"ce_type": kind.encode(), "ce_id": event_id.encode()}
    if source:
        headers["ce_source"] = source.encode()
    return Record(PREFIX + topic, 0, 0, b"t1", b"{}", headers)


def test_the_fanout_counts_per_ticket_and_names_what_nobody_applies() -> None:
    records = [
        _record("helpline.tickets", "created", "a"),
        _record("helpline.tickets", "created", "b"),
        _record("helpline.routing", "classified", "c"),
        _record("helpline.audit", "audit", "d", source="/helpline/intake"),
    ]
    consumed = Counter(
        {
            ("helpline-routing", PREFIX + "helpline.tickets", "handled"): 2,
            ("helpline-intake", PREFIX + "helpline.routing", "skipped"): 1,
        }
    )
    applied = {"routing (routing)": Counter({"created": 2})}

    found = pipeline.fanout(records, consumed, applied, PREFIX, tickets=2)

    assert found["produced_per_ticket"] == 2.0 and found["fetched_per_ticket"] == 1.5
    assert found["consumed_by_nobody"] == ["audit", "classified"]
    assert {row["type"]: row["producer"] for row in found["produced"]} == {
        "created": "intake",
        "classified": "routing",
        "audit": "intake",
    }
    assert pipeline.per_service(found) == {
        "intake": {"produced": 1.5, "fetched": 0.5, "skipped": 0.5, "applied": 0.0},
        "routing": {"produced": 0.5, "fetched": 1.0, "skipped": 0.0, "applied": 1.0},
    }


def _run(
    cpu: float, throughput: float, completed: int, p99: float, rss: float
) -> dict[str, object]:
    latency = {name: {"p50": p99 / 2, "p99": p99} for name in pipeline.MILESTONES}
    # The all-four throughput of either burst is in no target: only the target burst's
    # assigned + webhook throughput is (its all-four figure below would miss).
    target = pipeline.Measured(None, 2000, completed, {}, 1.0, latency, {})
    target.extra["tickets_per_second_assigned_and_webhook"] = throughput
    return {
        "phases": [pipeline.Measured(50.0, 10, 10, {}, 50.0, latency, {})],
        "target_burst": target,
        "burst": pipeline.Measured(
            None, 10000, 10000, {}, throughput, latency, {"four services": cpu}
        ),
        "peak_memory_mb": {"intake": rss, "kafka": 900.0},
    }


def test_each_figure_is_judged_against_its_target() -> None:
    good = pipeline.figures(
        {
            "sqlite": _run(9.0, 200.0, 2000, 40.0, 250.0),
            "postgres": _run(9.0, 150.0, 2000, 40.0, 250.0),
        }
    )
    judged = {name: figure for name, figure in good.items() if figure["passed"] is not None}
    assert all(figure["passed"] for figure in judged.values()), good
    assert good["sqlite burst of 2000, tickets/s assigned + webhook"]["passed"] is True
    # The targets are SQLite's; PostgreSQL's figures are reported, its target is the ratio.
    assert sorted(judged) == [
        "PostgreSQL / SQLite burst throughput",
        "sqlite CPU ms/ticket, four services (burst)",
        "sqlite burst of 2000, tickets/s assigned + webhook",
        "sqlite p99 201->assigned at 50/s",
        "sqlite peak RSS of a service",
    ]
    assert good["postgres burst of 2000, tickets/s assigned + webhook"]["meets_the_sqlite_target"]

    # 1,999 of 2,000 done misses the burst target whatever the throughput.
    bad = pipeline.figures({"sqlite": _run(11.0, 160.0, 1999, 60.0, 301.0)})
    assert [name for name, figure in bad.items() if figure["passed"] is not False] == [
        "sqlite burst of 10000, tickets/s all four done",
        "PostgreSQL / SQLite burst throughput",
    ]
    assert bad["PostgreSQL / SQLite burst throughput"]["passed"] is None
    slow = pipeline.figures({"sqlite": _run(9.0, 149.0, 2000, 40.0, 250.0)})
    assert slow["sqlite burst of 2000, tickets/s assigned + webhook"]["passed"] is False


class _Recorded:
    def __init__(self, records: list[Record]) -> None:
        self.records = records

    def records_since(self, count: int) -> list[Record]:
        return self.records[count:]


class _Hooks:
    def received_since(self, count: int) -> list[object]:
        return []


def _on_kafka(kind: str, ticket: str, appended: float, made: float, read: float) -> Record:
    headers = {"ce_type": kind, "ce_time": datetime.fromtimestamp(made, UTC).isoformat()}
    return Record(
        PREFIX + "helpline.tickets",
        0,
        0,
        ticket.encode(),
        b"{}",
        {name: value.encode() for name, value in headers.items()},
        read,
        round(appended * 1000),
    )


def test_the_hops_add_up_to_the_latency_and_name_the_one_holding_the_tail() -> None:
    records, created = [], {}
    for number in range(100):
        ticket, start = f"t{number}", 1000.0 + number
        slow = 0.5 if number == 7 else 0.0  # one ticket waited in routing's relay
        created[ticket] = start
        records.append(_on_kafka(pipeline.CREATED, ticket, start + 0.01, start - 0.002, 0))
        records.append(
            _on_kafka(
                pipeline.ASSIGNED, ticket, start + 0.04 + slow, start + 0.03, start + 0.3 + slow
            )
        )
    progress = pipeline.Progress(_Recorded(records), _Hooks())  # type: ignore[arg-type]
    progress.update()

    found = pipeline.hops(created, list(created), progress)

    # The milestone is the log-append time, not when the harness read the record.
    assert round((progress.reached["assigned"]["t1"] - created["t1"]) * 1000) == 40
    assert found["tickets"] == 100 and found["tail_tickets"] == 1
    assert found["201 -> created on Kafka"]["p50"] == 10.0
    assert found["created on Kafka -> routing decided"]["p50"] == 20.0
    assert found["routing decided -> assigned on Kafka"]["tail_mean"] == 510.0
    assert found["assigned on Kafka -> harness read it"]["p50"] == 260.0
    assert found["tail_hop"] == "routing decided -> assigned on Kafka"
