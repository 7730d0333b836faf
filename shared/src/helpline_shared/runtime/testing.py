"""Helpers for services' tests: a migrated database, what its outbox holds, a stand-in identity."""

import asyncio
import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import jwt
from aiokafka import ConsumerRecord, TopicPartition
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import MetaData, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from helpline_shared.envelope import Envelope, from_record, to_record
from helpline_shared.events import Event
from helpline_shared.runtime import sqlite_in_loop
from helpline_shared.runtime.credentials import ALGORITHMS, API_KEY_PREFIX, hash_secret
from helpline_shared.runtime.db import create_engine, inbox_table, outbox_table
from helpline_shared.runtime.migrations import upgrade
from helpline_shared.runtime.producer import EventProducer, RecordHeaders
from helpline_shared.runtime.uow import SqlUnitOfWork

UnitOfWorkT = TypeVar("UnitOfWorkT", bound=SqlUnitOfWork)


@asynccontextmanager
async def sqlite_units_of_work(
    database: Path, migrations: Path, metadata: MetaData, kind: type[UnitOfWorkT]
) -> AsyncIterator[tuple[Callable[[], UnitOfWorkT], AsyncEngine]]:
    """A unit-of-work factory on a fresh SQLite file migrated by the service's migrations."""
    async with units_of_work(f"sqlite+aiosqlite:///{database}", migrations, metadata, kind) as made:
        yield made


@asynccontextmanager
async def units_of_work(
    url: str, migrations: Path | None, metadata: MetaData, kind: type[UnitOfWorkT]
) -> AsyncIterator[tuple[Callable[[], UnitOfWorkT], AsyncEngine]]:
    """A unit-of-work factory on the database at ``url``, migrated to head first unless
    ``migrations`` is None (the database is already at head)."""
    if migrations is not None:
        await asyncio.to_thread(upgrade, migrations, url)  # Alembic runs its own event loop
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def unit_of_work() -> UnitOfWorkT:
        return kind(
            sessions,
            outbox_table=outbox_table(metadata),
            inbox_table=inbox_table(metadata),
            source="/tests",
        )

    try:
        yield unit_of_work, engine
    finally:
        await engine.dispose()


async def outbox_events(engine: AsyncEngine, metadata: MetaData) -> list[Envelope]:
    """Every event in the outbox, oldest first, decoded as consumers would."""
    table = outbox_table(metadata)
    async with engine.connect() as connection:
        rows = await connection.execute(select(table).order_by(table.c.id))
        return [
            from_record([(name, value.encode()) for name, value in row.headers], row.record_value)
            for row in rows
        ]


class StandInIdentity:
    """A real HTTP server that answers what services ask identity, for tests of other services.

    It signs real Ed25519 access tokens, publishes their key at ``/.well-known/jwks.json``,
    introspects the API and service keys it issued at ``/v1/introspect`` and lists what was
    revoked at ``/v1/revocations``, all as identity does. Tests whose subject is identity
    itself, or a journey through ``make run``, use the real identity service instead.
    """

    issuer = "http://127.0.0.1:8084"
    audience = "helpline"

    def __init__(self) -> None:
        self._private = Ed25519PrivateKey.generate()
        self._kid = "stand-in-" + uuid.uuid4().hex[:8]
        raw = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._jwk = {
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": ALGORITHMS[0],
            "use": "sig",
            "kid": self._kid,
            "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        }
        self._keys: dict[str, dict[str, Any]] = {}
        self._revoked_keys: set[str] = set()
        self._suspended: set[str] = set()
        self._deactivated: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _StandInHandler)
        self._server.identity = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Base URL to give services as ``HELPLINE_IDENTITY_URL``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def settings(self) -> dict[str, str]:
        """Service settings (keyword arguments) that make a service trust this stand-in."""
        return {
            "identity_url": self.url,
            "identity_issuer": self.issuer,
            "identity_audience": self.audience,
        }

    def environment(self) -> dict[str, str]:
        """The same as ``HELPLINE_*`` environment variables, for service processes."""
        return {f"HELPLINE_{name.upper()}": value for name, value in self.settings().items()}

    def person(
        self,
        tenant: str,
        role: str = "agent",
        user_id: str | None = None,
        teams: Sequence[str] = (),
        lifetime: int = 900,
    ) -> str:
        """An access token of a person of ``tenant`` with ``role``."""
        now = int(time.time())
        return jwt.encode(
            {
                "iss": self.issuer,
                "aud": self.audience,
                "sub": user_id or f"user-{role}",
                "tenant": tenant,
                "role": role,
                "teams": list(teams),
                "iat": now,
                "nbf": now,
                "exp": now + lifetime,
                "jti": uuid.uuid4().hex,
            },
            self._private,
            algorithm=ALGORITHMS[0],
            headers={"kid": self._kid},
        )

    def api_key(
        self,
        tenant: str,
        scopes: Sequence[str] = ("tickets:read", "tickets:write", "admin"),
        user_id: str | None = None,
    ) -> str:
        """An API key of ``tenant`` holding ``scopes``."""
        return self._issue({"tenant_id": tenant, "scopes": list(scopes), "user_id": user_id})

    def service_key(self, service: str, scopes: Sequence[str] = ("tickets:write",)) -> str:
        """A service key: acts for the tenant a request names in ``Helpline-Tenant``."""
        return self._issue(
            {"tenant_id": "*", "service": service, "scopes": list(scopes), "user_id": None}
        )

    def _issue(self, grant: dict[str, Any]) -> str:
        key = API_KEY_PREFIX + secrets.token_urlsafe(24)
        with self._lock:
            self._keys[hash_secret(key)] = {**grant, "key_id": uuid.uuid4().hex[:12]}
        return key

    def revoke(self, key: str) -> None:
        """Revoke an API or service key."""
        with self._lock:
            grant = self._keys.pop(hash_secret(key), None)
            if grant is not None:
                self._revoked_keys.add(grant["key_id"])

    def suspend(self, tenant: str) -> None:
        """Suspend ``tenant``: every credential of it is refused."""
        with self._lock:
            self._suspended.add(tenant)

    def deactivate(self, tenant: str, user_id: str) -> None:
        """Deactivate a user: their access tokens are refused."""
        with self._lock:
            self._deactivated.add((tenant, user_id))

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """What identity answers to ``method path``."""
        with self._lock:
            if method == "GET" and path == "/.well-known/jwks.json":
                return 200, {"keys": [self._jwk]}
            if method == "GET" and path == "/v1/revocations":
                return 200, {
                    "tenants": sorted(self._suspended),
                    "api_keys": sorted(self._revoked_keys),
                    "users": [{"tenant_id": t, "user_id": u} for t, u in sorted(self._deactivated)],
                }
            if method == "POST" and path == "/v1/introspect":
                token = json.loads(body or b"{}").get("token", "")
                grant = self._keys.get(hash_secret(str(token)))
                return 200, {"active": True, **grant} if grant else {"active": False}
        return 404, {"title": "Not found"}


class _StandInHandler(BaseHTTPRequestHandler):
    def _reply(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        identity: StandInIdentity = self.server.identity  # type: ignore[attr-defined]
        status, document = identity.answer(self.command, self.path, body)
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _reply

    def log_message(self, format: str, *args: Any) -> None:
        return


_stand_in: StandInIdentity | None = None


def stand_in_identity() -> StandInIdentity:
    """The test process's one stand-in identity (started on first use)."""
    global _stand_in
    if _stand_in is None:
        _stand_in = StandInIdentity()
    return _stand_in


def consumer_record(
    event: Event,
    *,
    offset: int,
    partition: int = 0,
    event_id: str | None = None,
    topic: str | None = None,
) -> ConsumerRecord[bytes, bytes]:
    """``event`` as the Kafka consumer hands it over, through the real CloudEvents encoding."""
    record = to_record(event, source="/tests", event_id=event_id)
    return raw_record(
        record.headers,
        record.value,
        offset=offset,
        partition=partition,
        topic=topic or record.topic,
        key=record.key,
    )


def raw_record(
    headers: Sequence[tuple[str, bytes]],
    value: bytes | None,
    *,
    offset: int,
    partition: int = 0,
    topic: str = "helpline.tickets",
    key: bytes | None = b"key",
) -> ConsumerRecord[bytes, bytes]:
    """A consumed record with exactly these headers and value (for records that are not events)."""
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=list(headers),
    )


class FakeKafkaConsumer:
    """Stands in for the aiokafka consumer a batch came from: notes where it was rewound."""

    def __init__(self) -> None:
        self.seeks: dict[tuple[str, int], int] = {}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Note that ``partition`` is read again from ``offset``."""
        self.seeks[(partition.topic, partition.partition)] = offset

    def highwater(self, partition: TopicPartition) -> int | None:
        """No fetch, no high watermark."""
        return None


class RecordingProducer(EventProducer):
    """A producer that keeps what it is asked to send instead of reaching a broker."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1:9", "tests")
        self.sent: list[tuple[str, bytes | None, dict[str, str]]] = []
        self.failing = False
        self.arrived = asyncio.Event()
        """Set at each record kept (clear it to wait for the next)."""

    async def send(
        self, topic: str, *, value: bytes, key: bytes | None, headers: RecordHeaders
    ) -> "asyncio.Future[Any]":
        """Keep the record; the returned future is already acknowledged."""
        await self.send_and_wait(topic, value=value, key=key, headers=headers)
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delivery.set_result(_Acknowledged(partition=0, offset=len(self.sent) - 1))
        return delivery

    async def send_and_wait(
        self, topic: str, *, value: bytes | None, key: bytes | None, headers: RecordHeaders
    ) -> None:
        """Keep the record, or fail as a broker outage would when ``failing``."""
        if self.failing:
            raise ConnectionError("the broker is away")
        self.sent.append((topic, value, {name: raw.decode() for name, raw in headers}))
        self.arrived.set()


@dataclass(frozen=True)
class _Acknowledged:
    partition: int
    offset: int


class StatementLog:
    """Every SQL statement an engine executes while listening (an executemany counts once),
    with each COMMIT and ROLLBACK."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._note)
        if engine.dialect.driver == sqlite_in_loop.dialect.driver:
            # That driver begins in the dialect, not through a statement SQLAlchemy executes.
            event.listen(engine.sync_engine, "begin", self._note_begin)
        event.listen(
            engine.sync_engine, "commit", lambda _connection: self.statements.append("COMMIT")
        )
        event.listen(
            engine.sync_engine, "rollback", lambda _connection: self.statements.append("ROLLBACK")
        )

    def _note_begin(self, connection: Any) -> None:
        read_only = bool(connection.get_execution_options().get(sqlite_in_loop.READ_ONLY_OPTION))
        self.statements.append(sqlite_in_loop.begin_statement(read_only))

    def _note(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(" ".join(statement.split()))

    def count(self, start: str) -> int:
        """How many statements began with ``start`` (case-insensitive)."""
        return sum(statement.upper().startswith(start.upper()) for statement in self.statements)

    def clear(self) -> None:
        """Forget what was executed so far."""
        self.statements = []
