"""The audit trail counts its records on metric children it looked up once, not with a
``labels`` call (a lock and a key built) per answer; the counts are the same."""

from typing import Any

import pytest

from helpline_shared.events import AuditRecorded
from helpline_shared.runtime import audit
from helpline_shared.runtime.audit import AUDIT_RECORDS, AuditTrail


async def test_records_are_counted_with_one_lookup_per_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded: list[AuditRecorded] = []

    async def record(event: AuditRecorded) -> None:
        recorded.append(event)

    lookups: list[tuple[str, ...]] = []
    labels = AUDIT_RECORDS.labels

    def counted_labels(*values: str) -> Any:
        lookups.append(values)
        return labels(*values)

    monkeypatch.setattr(audit.AUDIT_RECORDS, "labels", counted_labels)
    trail = AuditTrail(service="probe-counted", record=record)
    before = labels("probe-counted", "ok")._value.get()
    for _ in range(5):
        scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "state": {}}
        await trail.answered(scope, 201)
    assert len(recorded) == 5
    assert lookups == [("probe-counted", "ok")]
    assert labels("probe-counted", "ok")._value.get() == before + 5
