"""Intake's settings: one class, read from ``HELPLINE_*`` variables."""

from helpline_shared.runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""

    http_port: int = 8080
    max_page_size: int = 100
