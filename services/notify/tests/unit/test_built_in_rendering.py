"""Helpline's own templates render in notify's process (same sandbox, compiled once); tenants'
templates still go to a worker process that can be killed."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from helpline_notify.adapters import isolated_rendering
from helpline_notify.adapters.isolated_rendering import IsolatedRenderer, RenderLimits
from helpline_notify.domain.errors import InvalidTemplate
from helpline_notify.domain.templates import (
    BUILT_IN_TEMPLATES,
    DEFAULT_TEMPLATES,
    HUMAN_REPLY_TEMPLATE,
    TemplateSource,
    sample_context,
)

MESSAGE_ADDED = "helpline.ticket.message_added.v1"


@pytest.fixture
async def renderer() -> AsyncIterator[IsolatedRenderer]:
    isolated = IsolatedRenderer(RenderLimits(max_output_bytes=10_000, workers=1))
    yield isolated
    await isolated.aclose()


@pytest.fixture
def workers_started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the worker processes started."""
    started: list[int] = []
    start = isolated_rendering._Worker.start

    async def counted(limits: RenderLimits) -> Any:
        started.append(1)
        return await start(limits)

    monkeypatch.setattr(isolated_rendering._Worker, "start", counted)
    return started


async def test_every_built_in_template_renders_without_a_worker_process(
    renderer: IsolatedRenderer, workers_started: list[int]
) -> None:
    for event_type, source in DEFAULT_TEMPLATES.items():
        content = await renderer.render(source, sample_context(event_type))
        assert content.text
    await renderer.render(HUMAN_REPLY_TEMPLATE, sample_context(MESSAGE_ADDED))
    assert workers_started == []


async def test_a_tenants_template_still_renders_in_a_worker_process(
    renderer: IsolatedRenderer, workers_started: list[int]
) -> None:
    own = TemplateSource(subject="{{ ticket.subject }}", text="Hi {{ recipient }}")

    content = await renderer.render(own, sample_context(MESSAGE_ADDED))

    assert (content.subject, content.text) == ("Printer on fire", "Hi carol@customer.example")
    assert workers_started == [1]


async def test_in_process_renders_are_the_ones_a_worker_gives(renderer: IsolatedRenderer) -> None:
    isolated_only = IsolatedRenderer(RenderLimits(max_output_bytes=10_000, workers=1), trusted=())
    try:
        for source in BUILT_IN_TEMPLATES:
            for event_type in (*DEFAULT_TEMPLATES, MESSAGE_ADDED):
                context = sample_context(event_type)
                assert await renderer.render(source, context) == await isolated_only.render(
                    source, context
                )
    finally:
        await isolated_only.aclose()


async def test_a_built_in_render_is_still_bounded_in_size(
    renderer: IsolatedRenderer, workers_started: list[int]
) -> None:
    context = sample_context(MESSAGE_ADDED)
    context["event"]["body"] = "x" * 20_000

    with pytest.raises(InvalidTemplate, match="larger than the limit"):
        await renderer.render(DEFAULT_TEMPLATES[MESSAGE_ADDED], context)
    assert workers_started == []
