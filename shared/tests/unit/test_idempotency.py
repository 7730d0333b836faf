"""The shared Idempotency-Key piece: replay, conflict, tenant scope, expiry, failure frees."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import MetaData, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from helpline_shared.runtime.auth import CredentialVerifier, Principal, require
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.idempotency import IdempotentCreates, idempotency_table
from helpline_shared.runtime.problems import install_problem_handlers
from helpline_shared.runtime.testing import stand_in_identity
from helpline_shared.runtime.uow import SqlUnitOfWork

IDENTITY = stand_in_identity()


class ThingIn(BaseModel):
    name: str


class ThingOut(BaseModel):
    id: int
    name: str


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    metadata = MetaData()
    table = idempotency_table(metadata)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)

    def unit_of_work() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions, outbox_table=outbox, inbox_table=inbox, source="/t")

    made: list[str] = []
    idempotent = IdempotentCreates(unit_of_work, table, ttl=timedelta(hours=1))
    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    app.state.made = made
    app.state.table, app.state.engine = table, engine
    install_problem_handlers(app)
    writer = require("tickets.create")

    @app.post("/things/{group}", status_code=201, response_model=ThingOut)
    @idempotent
    async def create_thing(group: str, body: ThingIn, principal: Principal = writer) -> ThingOut:
        if body.name == "boom":
            raise HTTPException(422, "name: refused")
        made.append(body.name)
        return ThingOut(id=len(made), name=body.name)

    yield app
    await engine.dispose()


def client(app: FastAPI, tenant: str = "acme") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://t",
        headers={"authorization": f"Bearer {IDENTITY.api_key(tenant, ['tickets:write'])}"},
    )


async def post(
    app: FastAPI, name: str, key: str | None = "k", group: str = "a", tenant: str = "acme"
) -> httpx.Response:
    async with client(app, tenant) as http:
        return await http.post(
            f"/things/{group}", json={"name": name}, headers={"Idempotency-Key": key} if key else {}
        )


async def test_a_retry_replays_and_the_path_is_part_of_the_request(app: FastAPI) -> None:
    first, again = await post(app, "x"), await post(app, "x")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and app.state.made == ["x"]
    assert (await post(app, "x", group="b")).status_code == 409
    assert (await post(app, "x", tenant="globex")).status_code == 201


async def test_a_failed_create_frees_its_key(app: FastAPI) -> None:
    assert (await post(app, "boom")).status_code == 422
    assert (await post(app, "y")).status_code == 201


async def test_an_expired_key_may_be_used_again(app: FastAPI) -> None:
    assert (await post(app, "x")).status_code == 201
    table = app.state.table
    async with app.state.engine.begin() as connection:
        await connection.execute(update(table).values(created_at=utcnow() - timedelta(hours=2)))
    again = await post(app, "other")
    assert again.status_code == 201 and app.state.made == ["x", "other"]
