"""An Idempotency-Key's first use reserves it in one statement (no read, no delete); a key
held by a request that died is taken over, once."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import MetaData, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from helpline_shared.runtime.auth import CredentialVerifier, Principal, require
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table, utcnow
from helpline_shared.runtime.idempotency import IdempotentCreates, idempotency_table
from helpline_shared.runtime.testing import StatementLog, stand_in_identity
from helpline_shared.runtime.uow import SqlUnitOfWork

IDENTITY = stand_in_identity()


class ThingIn(BaseModel):
    name: str


class ThingOut(BaseModel):
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

    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    app.state.table, app.state.engine, app.state.made = table, engine, []
    idempotent = IdempotentCreates(unit_of_work, table, stale_after=timedelta(seconds=60))

    @app.post("/things", status_code=201, response_model=ThingOut)
    @idempotent
    async def create_thing(body: ThingIn, principal: Principal = require("tickets.create")) -> Any:
        app.state.made.append(body.name)
        return ThingOut(name=body.name)

    yield app
    await engine.dispose()


async def post(app: FastAPI, name: str, key: str = "k") -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://t",
        headers={"authorization": f"Bearer {IDENTITY.api_key('acme', ['tickets:write'])}"},
    ) as http:
        return await http.post("/things", json={"name": name}, headers={"Idempotency-Key": key})


async def test_a_first_use_reserves_the_key_in_one_statement(app: FastAPI) -> None:
    assert (await post(app, "warm", key="w")).status_code == 201  # the prune ran
    log = StatementLog(app.state.engine)
    assert (await post(app, "x")).status_code == 201
    kinds = [statement.split()[0].upper() for statement in log.statements]
    # The reservation (one INSERT), the create (nothing here), the answer stored (UPDATE).
    assert kinds == ["BEGIN", "INSERT", "COMMIT", "BEGIN", "UPDATE", "COMMIT"], log.statements
    log.clear()
    replay = await post(app, "x")
    assert replay.status_code == 200 and replay.json() == {"name": "x"}
    assert app.state.made == ["warm", "x"]
    assert log.count("DELETE") == 0 and log.count("UPDATE") == 0


async def test_a_key_whose_request_died_is_taken_over(app: FastAPI) -> None:
    table, engine = app.state.table, app.state.engine
    assert (await post(app, "x")).status_code == 201
    # As if the first request had died after reserving: no answer, reserved long ago.
    async with engine.begin() as connection:
        await connection.execute(
            update(table).values(
                status_code=None, response=None, created_at=utcnow() - timedelta(minutes=5)
            )
        )
    again = await post(app, "x")
    assert again.status_code == 201 and app.state.made == ["x", "x"]
    assert (await post(app, "x")).status_code == 200
    async with engine.connect() as connection:
        rows = (await connection.execute(select(table.c.status_code))).all()
    assert [row.status_code for row in rows] == [200]
