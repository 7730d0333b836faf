"""Spans nobody receives are not made per SQL statement."""

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import MetaData

from helpline_shared.runtime import service, telemetry
from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.settings import ServiceSettings

RESOURCE = telemetry.service_resource("helpline-test", service_version="1", environ={})


def test_a_provider_without_exporters_is_known_to_export_nothing() -> None:
    assert not telemetry.exports_spans(telemetry.tracer_provider(RESOURCE, environ={}))
    exporting = telemetry.tracer_provider(RESOURCE, environ={"OTEL_TRACES_EXPORTER": "console"})
    assert telemetry.exports_spans(exporting)
    exporting.shutdown()
    # Made elsewhere (a test's in-memory exporter is added to it afterwards): it may export.
    assert telemetry.exports_spans(TracerProvider())


@pytest.mark.parametrize("exporting", [False, True])
async def test_sql_statements_are_traced_only_when_spans_are_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exporting: bool
) -> None:
    provider = TracerProvider() if exporting else telemetry.tracer_provider(RESOURCE, environ={})
    monkeypatch.setattr(service, "setup_tracing", lambda *_args, **_kwargs: provider)
    runtime = ServiceRuntime(
        name="tracing-test", settings=ServiceSettings(data_dir=tmp_path), metadata=MetaData()
    )
    try:
        hooks = runtime.engine.sync_engine.dispatch.before_cursor_execute
        assert bool(len(hooks)) is exporting
    finally:
        await runtime.engine.dispose()
