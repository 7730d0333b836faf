"""Routing's settings: one class, read from ``HELPLINE_*`` variables."""

from helpline_shared.runtime.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    """Settings of the routing service."""

    http_port: int = 8081
