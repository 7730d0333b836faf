"""Shared by the fuzz tests: example budgets per profile and the problem+json contract."""

import os
from typing import Any

from hypothesis import settings

PROFILE = "fuzz-long" if os.environ.get("HELPLINE_FUZZ_PROFILE") == "long" else "fuzz"
SCALE = int(os.environ.get("HELPLINE_FUZZ_SCALE", "10")) if PROFILE == "fuzz-long" else 1
PROBLEM_JSON = "application/problem+json"


def fuzz_settings(examples: int, **changes: Any) -> settings:
    """The active profile with ``examples`` examples per run in ``make test``, scaled when long."""
    return settings(settings.get_profile(PROFILE), max_examples=examples * SCALE, **changes)


def problem_errors(status: int, content_type: str, body: object) -> list[str]:
    """What is wrong with an error response as RFC 9457 problem details (empty when fine)."""
    errors: list[str] = []
    if not content_type.startswith(PROBLEM_JSON):
        errors.append(f"content type {content_type!r} is not {PROBLEM_JSON}")
    if not isinstance(body, dict):
        return [*errors, f"the body is not a JSON object: {body!r:.200}"]
    if body.get("status") != status:
        errors.append(f"status member {body.get('status')!r} differs from {status}")
    if not isinstance(body.get("title"), str) or not body["title"]:
        errors.append("no title")
    if not isinstance(body.get("type"), str):
        errors.append("no type")
    if "detail" in body and not isinstance(body["detail"], str):
        errors.append(f"detail is not a string: {body['detail']!r:.200}")
    return errors
