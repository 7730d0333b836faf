"""The workspace's settings: one class, read from ``HELPLINE_*`` variables."""

from pydantic import Field

from helpline_shared.runtime.settings import ServiceSettings


class WorkspaceSettings(ServiceSettings):
    """Settings of the workspace (it has no database: ``database_url`` is unused)."""

    http_port: int = Field(default=8085, ge=1, le=65535)
    intake_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Base URL of intake (tickets, messages, reports)",
    )
    routing_url: str = Field(
        default="http://127.0.0.1:8081",
        description="Base URL of routing (agents, offers, presence)",
    )
    escalation_url: str = Field(
        default="http://127.0.0.1:8082",
        description="Base URL of escalation (SLA clocks and reports)",
    )
    notify_url: str = Field(
        default="http://127.0.0.1:8083", description="Base URL of notify (webhooks, deliveries)"
    )
    workspace_tenant: str = Field(
        default="",
        max_length=64,
        description="Tenant the sign-in form proposes (one workspace per tenant); empty: asked",
    )
    session_cookie_secure: bool = Field(
        default=False,
        description="Mark the session cookie Secure (set it behind HTTPS, as in production)",
    )
    session_idle_seconds: int = Field(
        default=8 * 3600, ge=60, description="A session unused this long is signed out"
    )
    default_timezone: str = Field(
        default="UTC", description="Time zone of times shown before the browser tells its own"
    )
    api_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a call to another service may take"
    )
    presence_idle_minutes: int = Field(
        default=10,
        ge=1,
        le=24 * 60,
        description="Minutes without keyboard or mouse activity after which an open page sets "
        "its agent away",
    )
    presence_heartbeat_seconds: int = Field(
        default=60,
        ge=10,
        le=900,
        description="Seconds between the heartbeats an open page sends to routing for its agent",
    )
    live_queue_size: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Most live messages waiting for one browser connection (the oldest are "
        "dropped beyond)",
    )
    live_max_connections: int = Field(
        default=5000,
        ge=1,
        description="Most live-update connections (server-sent events) this process keeps open",
    )
    live_viewer_seconds: int = Field(
        default=45,
        ge=10,
        le=3600,
        description="A ticket viewer or replier not heard from this long is no longer shown",
    )
    live_updates: bool = Field(
        default=True,
        description="Read the event stream for live pages (off: pages work without live updates)",
    )
