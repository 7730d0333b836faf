"""`/readyz`: the database is always required; Kafka unless the service may run without it."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData

from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.settings import ServiceSettings


class BrokerAway(Exception):
    """What the producer's metadata request raises while the broker is unreachable."""


async def broker_away() -> None:
    raise BrokerAway("no broker answered")


async def broker_answers() -> None:
    return None


Build = Callable[..., ServiceRuntime]


@pytest.fixture
async def build(tmp_path: Path) -> AsyncIterator[Build]:
    runtimes: list[ServiceRuntime] = []

    def make(*, requires_kafka: bool, database_url: str | None = None) -> ServiceRuntime:
        settings = ServiceSettings(data_dir=tmp_path, database_url=database_url)
        runtime = ServiceRuntime(
            name="ready-test",
            settings=settings,
            metadata=MetaData(),
            readiness_requires_kafka=requires_kafka,
        )
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        await runtime.engine.dispose()


async def readyz(runtime: ServiceRuntime, ping: Callable[[], Any]) -> httpx.Response:
    runtime.producer.ping = ping  # type: ignore[method-assign]
    app = runtime.http_app("readiness test", [])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.get("/readyz")


async def test_a_service_that_needs_kafka_is_not_ready_without_it(build: Build) -> None:
    response = await readyz(build(requires_kafka=True), broker_away)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["checks"] == {
        "database": "ok",
        "kafka": "BrokerAway: no broker answered",
    }


async def test_a_service_with_an_outbox_stays_ready_and_reports_kafka_degraded(
    build: Build,
) -> None:
    response = await readyz(build(requires_kafka=False), broker_away)
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "kafka": "degraded: BrokerAway: no broker answered"},
    }


@pytest.mark.parametrize("requires_kafka", [True, False])
async def test_every_service_is_ready_when_both_answer(build: Build, requires_kafka: bool) -> None:
    response = await readyz(build(requires_kafka=requires_kafka), broker_answers)
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.parametrize("requires_kafka", [True, False])
async def test_no_service_is_ready_without_its_database(
    build: Build, tmp_path: Path, requires_kafka: bool
) -> None:
    # A SQLite file in a folder that does not exist: every connection fails.
    missing = f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'service.db'}"
    response = await readyz(
        build(requires_kafka=requires_kafka, database_url=missing), broker_answers
    )
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("OperationalError")
    assert response.json()["checks"]["kafka"] == "ok"
