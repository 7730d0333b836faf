"""``Idempotency-Key`` on every create: a retry with the same key and body returns the original.

A create route is wrapped once (``@idempotent`` under its ``@api.post``); the wrapper declares the
header in the OpenAPI document. A key is scoped to the tenant and the operation and kept in the
service's own database for ``ttl`` (24 h). The first request reserves the key in a transaction of
its own, runs the create, then stores the answer: a retry with the same body gets that answer with
200, a retry with another body 409, a twin arriving while the first still runs waits for it (and
gets 409 if it takes too long). A failed create frees the key. Should a process die between the
create's commit and storing its answer, the reservation is taken over after ``stale_after``: the
only window in which a retry can create twice.
"""

import asyncio
import functools
import hashlib
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Header, HTTPException, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, delete, select, update

from helpline_shared.runtime.auth import Principal
from helpline_shared.runtime.db import UtcDateTime, utcnow
from helpline_shared.runtime.uow import SqlUnitOfWork, insert_unless_present

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
STALE_AFTER = timedelta(seconds=60)
WAIT_FOR_TWIN = 10.0
POLL_SECONDS = 0.05
PRUNE_EVERY = timedelta(minutes=5)

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=255,
        alias=HEADER,
        description="A key of the client's choosing: a retry with the same key and body returns "
        "the resource the first request created (200); another body is refused (409). "
        "Keys are kept 24 h per tenant.",
    ),
]

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A retry of an earlier request with the same Idempotency-Key: what "
        "it created"
    },
    409: {
        "description": "The Idempotency-Key was used with another body, or its first request "
        "is still running"
    },
}
"""The extra answers of an idempotent create, for its route's ``responses``."""

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Any]])


def idempotency_table(metadata: MetaData) -> Table:
    """Reserved and answered keys; each service migrates it into its own database."""
    if "idempotent_requests" in metadata.tables:
        return metadata.tables["idempotent_requests"]
    return Table(
        "idempotent_requests",
        metadata,
        Column("tenant_id", String(64), primary_key=True),
        Column("operation", String(128), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("claim_id", String(36), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response", JSON, nullable=True),
        Column("created_at", UtcDateTime, nullable=False),
        Index("ix_idempotent_requests_created_at", "created_at"),
    )


def _conflict(detail: str) -> HTTPException:
    return HTTPException(409, f"{HEADER}: {detail}")


def request_hash(arguments: dict[str, Any]) -> str:
    """A stable digest of a create's body and path, to tell a retry from another request."""
    kept = {
        name: jsonable_encoder(value)
        for name, value in arguments.items()
        if isinstance(value, BaseModel | str | int | float | bool | list | dict) or value is None
    }
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


class IdempotentCreates:
    """The decorator of a service's create routes, on its database."""

    def __init__(
        self,
        unit_of_work: Callable[[], SqlUnitOfWork],
        table: Table,
        *,
        ttl: timedelta = TTL,
        stale_after: timedelta = STALE_AFTER,
        wait_for_twin: float = WAIT_FOR_TWIN,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._table = table
        self._ttl = ttl
        self._stale_after = stale_after
        self._wait_for_twin = wait_for_twin
        self._pruned_at: datetime | None = None

    def __call__(self, endpoint: Endpoint) -> Endpoint:
        """Wrap ``endpoint``: it gains the ``Idempotency-Key`` header and replays by it."""
        signature = inspect.signature(endpoint)
        own_response = "response" in signature.parameters
        parameters = [
            parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for parameter in signature.parameters.values()
        ]
        if not own_response:
            parameters.append(
                inspect.Parameter("response", inspect.Parameter.KEYWORD_ONLY, annotation=Response)
            )
        parameters.append(
            inspect.Parameter(
                "idempotency_key",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=IdempotencyKey,
                default=None,
            )
        )
        operation = f"{endpoint.__module__}.{endpoint.__name__}"[-128:]

        @functools.wraps(endpoint)
        async def wrapper(**arguments: Any) -> Any:
            key: str | None = arguments.pop("idempotency_key")
            response: Response = (
                arguments["response"] if own_response else arguments.pop("response")
            )
            if key is None:
                return await endpoint(**arguments)
            tenant = next(
                (value.tenant_id for value in arguments.values() if isinstance(value, Principal)),
                "",
            )
            digest = request_hash(
                {name: value for name, value in arguments.items() if name != "response"}
            )
            claim_id, replayed = await self._claim(tenant, operation, key, digest)
            if claim_id is None:
                response.status_code = 200
                return replayed
            try:
                result = await endpoint(**arguments)
            except BaseException:
                await self._release(claim_id, tenant, operation, key)
                raise
            if isinstance(result, Response):  # not replayable: nothing to store
                await self._release(claim_id, tenant, operation, key)
                return result
            await self._complete(claim_id, tenant, operation, key, jsonable_encoder(result))
            return result

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=parameters
        )
        return wrapper  # type: ignore[return-value]

    def _row(self, tenant: str, operation: str, key: str) -> Any:
        table = self._table
        return (
            (table.c.tenant_id == tenant) & (table.c.operation == operation) & (table.c.key == key)
        )

    async def _claim(
        self, tenant: str, operation: str, key: str, digest: str
    ) -> tuple[str | None, Any]:
        """(a new claim id, None) when this request runs; (None, answer) for a replay.

        The reservation is tried first (a key's first use is the common case: one statement,
        no read); only a key already held is read, to replay, refuse or take it over.
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._wait_for_twin
        where = self._row(tenant, operation, key)
        table = self._table
        while True:
            now = utcnow()
            claim_id = str(uuid.uuid4())
            async with self._unit_of_work() as uow:
                reserved = await uow.session.execute(
                    insert_unless_present(table, uow.session.get_bind().dialect.name, "claim_id"),
                    {
                        "tenant_id": tenant,
                        "operation": operation,
                        "key": key,
                        "request_hash": digest,
                        "claim_id": claim_id,
                        "created_at": now,
                    },
                )
                if reserved.first() is not None:
                    await self._prune(uow, now)
                    await uow.commit()
                    return claim_id, None
                row = (await uow.session.execute(select(table).where(where))).first()
                if row is None:
                    continue  # released since the insert met it: reserve again
                usable = row.created_at > now - self._ttl and (
                    row.status_code is not None or row.created_at > now - self._stale_after
                )
                if usable:
                    if row.request_hash != digest:
                        raise _conflict("already used with a different request body")
                    if row.status_code is not None:
                        return None, row.response
                else:
                    # Expired, or its request died: taken over unless another took it first.
                    taken = await uow.session.execute(
                        update(table)
                        .where(where, table.c.claim_id == row.claim_id)
                        .values(
                            request_hash=digest,
                            claim_id=claim_id,
                            status_code=None,
                            response=None,
                            created_at=now,
                        )
                    )
                    if taken.rowcount == 1:  # type: ignore[attr-defined]
                        await self._prune(uow, now)
                        await uow.commit()
                        return claim_id, None
                    continue
            if loop.time() > give_up:
                raise _conflict("the first request with this key is still running; retry later")
            await asyncio.sleep(POLL_SECONDS)

    async def _prune(self, uow: SqlUnitOfWork, now: datetime) -> None:
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        await uow.session.execute(
            delete(self._table).where(self._table.c.created_at < now - self._ttl)
        )

    async def _complete(
        self, claim_id: str, tenant: str, operation: str, key: str, answer: Any
    ) -> None:
        async with self._unit_of_work() as uow:
            await uow.session.execute(
                update(self._table)
                .where(
                    self._row(tenant, operation, key),
                    self._table.c.claim_id == claim_id,
                )
                .values(status_code=200, response=answer)
            )
            await uow.commit()

    async def _release(self, claim_id: str, tenant: str, operation: str, key: str) -> None:
        async with self._unit_of_work() as uow:
            await uow.session.execute(
                delete(self._table).where(
                    self._row(tenant, operation, key), self._table.c.claim_id == claim_id
                )
            )
            await uow.commit()
