"""What notify's route modules share: their options and common request shapes."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


class FiltersIn(BaseModel):
    """Ticket filters: a list of allowed values per attribute (empty: any value)."""

    model_config = ConfigDict(extra="forbid")

    priority: Values = Field(default_factory=list, max_length=10)
    type: Values = Field(default_factory=list, max_length=10)
    organization_id: Values = Field(default_factory=list, max_length=100)
    team: Values = Field(default_factory=list, max_length=50)
