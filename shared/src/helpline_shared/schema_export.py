"""Schema export and compatibility, defined in ``helpline_contracts.schema_export``."""

from helpline_contracts.schema_export import *  # noqa: F403
