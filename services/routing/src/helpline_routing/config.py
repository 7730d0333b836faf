"""Routing's settings: one class, read from ``HELPLINE_*`` variables."""

from pydantic import Field

from helpline_shared.runtime.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    """Settings of the routing service (per-tenant routing settings live in its database)."""

    http_port: int = Field(default=8081, ge=1, le=65535)
    timer_poll_interval: float = Field(
        default=2.0,
        gt=0,
        description="Seconds between the timer loop's safety-net looks for timers it was not "
        "told of (commits wake it at once); never shorter than its 2 s read-ahead",
    )
    timer_batch_size: int = Field(default=100, ge=1)
    drain_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between sweeps of every queue (a safety net: releases drain at once)",
    )
