"""Personal data in what partners receive: which event fields carry it, and how it is left out."""

from typing import Any

PERSONAL_FIELDS = frozenset(
    {
        "requester",
        "agent_name",
        "agent_email",
        "address",
        "body",
        "description",
        "diagnostic",
        "subject",
        "filename",
    }
)
"""Event fields naming or quoting a person; an endpoint without personal data gets them as null."""


def without_personal_data(data: Any) -> Any:
    """``data`` (an event as JSON) with every personal field, at any depth, set to null."""
    if isinstance(data, dict):
        return {
            key: None if key in PERSONAL_FIELDS else without_personal_data(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [without_personal_data(item) for item in data]
    return data
