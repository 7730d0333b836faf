"""What notify's route modules share: their options and common request shapes."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from helpline_notify.domain.model import unstorable_character
from helpline_notify.service_layer.handlers import UnitOfWorkFactory
from helpline_notify.service_layer.ports import TemplateRenderer
from helpline_shared.inputs import SafeLine, refuse_unsafe_line

PathKey = Annotated[str, Path(min_length=1, max_length=320), AfterValidator(refuse_unsafe_line)]
"""An id or address in a path: a control character is a 422, never a database error."""
Values = list[Annotated[SafeLine, Field(min_length=1, max_length=64)]]


@dataclass(frozen=True)
class ApiOptions:
    """What the routes need from bootstrap."""

    unit_of_work: UnitOfWorkFactory
    renderer: TemplateRenderer
    max_page_size: int
    allow_private_networks: bool
    rotation_overlap: timedelta
    wake_worker: Callable[[], None]


class RequestBody(BaseModel):
    """A request body: unknown fields refused, and no string holding what no database stores."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def refuse_unstorable(cls, value: Any) -> Any:
        """NUL and lone surrogates would fail in PostgreSQL (a 500): a 422 naming the field."""
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, str) and (found := unstorable_character(item)):
                raise ValueError(f"contains U+{ord(found):04X}, which cannot be stored")
        return value


class FiltersIn(RequestBody):
    """Ticket filters: a list of allowed values per attribute (empty: any value)."""

    priority: Values = Field(default_factory=list, max_length=10)
    type: Values = Field(default_factory=list, max_length=10)
    organization_id: Values = Field(default_factory=list, max_length=100)
    team: Values = Field(default_factory=list, max_length=50)


class FiltersOut(BaseModel):
    """Stored ticket filters (as they were accepted, even under older rules)."""

    priority: list[str] = Field(default_factory=list)
    type: list[str] = Field(default_factory=list)
    organization_id: list[str] = Field(default_factory=list)
    team: list[str] = Field(default_factory=list)
