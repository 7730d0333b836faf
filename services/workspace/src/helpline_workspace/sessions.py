"""Sessions: the only state the workspace keeps.

A session is a random 256-bit id in an HttpOnly, SameSite=Lax cookie (Secure behind HTTPS); the
person's tokens stay on the server, never in the browser. Every session, signed in or not, has its
own CSRF token, which each form and htmx request sends back (``csrf_token`` field or
``X-CSRF-Token`` header). Sessions live in this process's memory: a restart signs everyone out,
and several replicas need sticky sessions (``Service.spec.sessionAffinity: ClientIP``).
"""

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SESSION_COOKIE = "helpline_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
MAX_SESSIONS = 100_000
"""Beyond this many sessions the least recently used are dropped (bounded memory)."""


@dataclass
class Person:
    """Who is signed in, as identity's ``GET /v1/me`` describes them."""

    user_id: str
    tenant: str
    name: str
    email: str
    role: str
    teams: list[str]

    @property
    def is_lead(self) -> bool:
        """Leads and admins see the team dashboard and may reassign."""
        return self.role in ("lead", "admin")

    @property
    def is_admin(self) -> bool:
        """Admins manage users, keys, webhooks, SLA policies and routing rules."""
        return self.role == "admin"


@dataclass
class Session:
    """One browser's session: its CSRF token and, once signed in, the person and their tokens."""

    id: str
    csrf: str
    timezone: str
    last_used: float
    person: Person | None = None
    access_token: str = ""
    refresh_token: str = ""
    access_expires: float = 0.0
    """Monotonic time the access token expires."""
    refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    flash: list[str] = field(default_factory=list)
    """Messages shown once on the next page (e.g. "Reply sent")."""
    data: dict[str, Any] = field(default_factory=dict)
    """Per-session values the pages keep (e.g. a key shown once)."""


class SessionStore:
    """Sessions by id, in memory, dropped when idle too long."""

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions: dict[str, Session] = {}
        self._idle = idle_seconds
        self._clock = clock

    def get(self, session_id: str | None) -> Session | None:
        """The live session ``session_id``, or None (unknown or idle too long)."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_used > self._idle:
            del self._sessions[session_id]
            return None
        session.last_used = now
        # Keep the dict in least-recently-used order for eviction.
        self._sessions[session_id] = self._sessions.pop(session_id)
        return session

    def new(self, timezone: str) -> Session:
        """A fresh anonymous session."""
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            timezone=timezone,
            last_used=self._clock(),
        )
        self._sessions[session.id] = session
        return session

    def rotate(self, session: Session) -> Session:
        """The same session under a new id and CSRF token (at sign-in: no fixation)."""
        self._sessions.pop(session.id, None)
        session.id = secrets.token_urlsafe(32)
        session.csrf = secrets.token_urlsafe(32)
        self._sessions[session.id] = session
        return session

    def drop(self, session: Session) -> None:
        """Forget ``session`` (sign-out)."""
        self._sessions.pop(session.id, None)

    def signed_in(self) -> list[Session]:
        """Every live signed-in session (for live updates and presence)."""
        return [s for s in self._sessions.values() if s.person is not None]

    def csrf_valid(self, session: Session, token: str | None) -> bool:
        """Whether ``token`` is ``session``'s CSRF token (constant time)."""
        return bool(token) and secrets.compare_digest(session.csrf, token or "")
