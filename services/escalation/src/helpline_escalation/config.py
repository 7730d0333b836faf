"""Escalation's settings: one class, read from ``HELPLINE_*`` variables."""

from collections.abc import Mapping

from pydantic import Field, SecretStr, field_validator

from helpline_escalation.domain.policy import DEFAULT_FIRST_RESPONSE_TARGETS, MAX_TARGET_SECONDS
from helpline_shared.events import Priority
from helpline_shared.runtime.settings import ServiceSettings


class EscalationSettings(ServiceSettings):
    """Settings of the escalation service."""

    http_port: int = Field(default=8082, ge=1, le=65535)
    first_response_targets: dict[Priority, int] = Field(
        default_factory=lambda: dict(DEFAULT_FIRST_RESPONSE_TARGETS),
        description="Seconds to the first public agent reply, by priority (JSON object); "
        "priorities left out keep their default",
    )
    timer_poll_interval: float = Field(
        default=2.0,
        gt=0,
        le=5,
        description="Seconds between the timer loop's safety-net looks for timers it was not "
        "told of (commits wake it at once); never shorter than its 2 s read-ahead",
    )
    timer_batch_size: int = Field(default=200, ge=1)
    intake_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Where preventive tickets are opened (intake's API)",
    )
    intake_service_key: SecretStr | None = Field(
        default=None,
        description="Escalation's service key (identity's POST /v1/service-keys, scope "
        "tickets:write) for opening preventive tickets at intake; without it they "
        "fail and are retried",
    )
    preventive_late_after: float = Field(
        default=300,
        gt=0,
        description="Seconds after its scheduled time an occurrence counts as created late",
    )
    preventive_min_interval: float = Field(
        default=300,
        gt=0,
        description="Shortest interval between two occurrences a schedule may have, in seconds",
    )

    @field_validator("first_response_targets")
    @classmethod
    def _complete_and_positive(cls, targets: Mapping[Priority, int]) -> dict[Priority, int]:
        if any(not 0 < seconds <= MAX_TARGET_SECONDS for seconds in targets.values()):
            raise ValueError(f"every target must be 1 to {MAX_TARGET_SECONDS} seconds")
        return {**DEFAULT_FIRST_RESPONSE_TARGETS, **targets}
