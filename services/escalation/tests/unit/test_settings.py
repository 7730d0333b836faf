"""First-response targets come from ``HELPLINE_FIRST_RESPONSE_TARGETS``."""

import pytest
from pydantic import ValidationError

from helpline_escalation.config import EscalationSettings


def test_targets_left_out_keep_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_FIRST_RESPONSE_TARGETS", '{"urgent": 2}')
    targets = EscalationSettings().first_response_targets
    assert targets == {"urgent": 2, "high": 14_400, "normal": 28_800, "low": 86_400}


def test_defaults_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELPLINE_FIRST_RESPONSE_TARGETS", raising=False)
    monkeypatch.delenv("HELPLINE_HTTP_PORT", raising=False)
    settings = EscalationSettings()
    assert settings.http_port == 8082
    assert settings.first_response_targets["urgent"] == 3600


@pytest.mark.parametrize("raw", ['{"urgent": 0}', '{"someday": 5}', "not json"])
def test_bad_targets_fail_at_start(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("HELPLINE_FIRST_RESPONSE_TARGETS", raw)
    with pytest.raises((ValidationError, ValueError)):
        EscalationSettings()
