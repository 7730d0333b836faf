"""Templates: defaults for each notifying event, sandboxed rendering, autoescaped HTML."""

import pytest
from notify_testkit import NOW, TENANT, ticket_assigned

from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.domain.errors import InvalidTemplate
from helpline_notify.domain.model import TicketView
from helpline_notify.domain.templates import (
    DEFAULT_TEMPLATES,
    TemplateSource,
    sample_context,
    template_context,
    with_token,
)

TICKET = TicketView(ticket_id="1a2b3c4d-0000", tenant_id=TENANT, subject="<b>Printer</b>")


def test_defaults_exist_for_every_notification_the_product_names() -> None:
    assert {
        "helpline.ticket.created.v1",
        "helpline.ticket.message_added.v1",
        "helpline.ticket.assigned.v1",
        "helpline.sla.warning.v1",
        "helpline.sla.breached.v1",
        "helpline.sla.escalated.v1",
    } <= set(DEFAULT_TEMPLATES)
    assert all(source.html for source in DEFAULT_TEMPLATES.values())


async def test_html_is_autoescaped_and_text_is_not() -> None:
    content = await JinjaRenderer().render(
        DEFAULT_TEMPLATES["helpline.ticket.assigned.v1"],
        template_context(ticket_assigned("1a2b3c4d-0000"), TICKET, "ann@example.com"),
    )
    assert "<b>Printer</b>" in content.text
    assert content.html is not None and "&lt;b&gt;Printer&lt;/b&gt;" in content.html


async def test_the_sandbox_keeps_templates_away_from_python_internals() -> None:
    renderer = JinjaRenderer()
    with pytest.raises(InvalidTemplate, match="SecurityError"):
        await renderer.render(TemplateSource(subject="x", text="{{ ''.__class__.__mro__ }}"), {})
    with pytest.raises(InvalidTemplate, match="OverflowError"):
        await renderer.render(TemplateSource(subject="x", text="{{ range(10**9) | list }}"), {})
    with pytest.raises(InvalidTemplate, match="ZeroDivisionError"):
        await renderer.render(TemplateSource(subject="x", text="{{ 1 / 0 }}"), {})
    assert (
        await renderer.render(TemplateSource(subject="x", text="{{ missing }}!"), {})
    ).text == "!"


async def test_a_template_that_does_not_compile_names_its_part() -> None:
    with pytest.raises(InvalidTemplate, match=r"^html: "):
        await JinjaRenderer().check(TemplateSource(subject="ok", text="ok", html="{% if %}"), {})


async def test_every_default_template_renders_on_the_sample_data() -> None:
    for event_type, source in DEFAULT_TEMPLATES.items():
        await JinjaRenderer().check(source, sample_context(event_type))


def test_the_subject_always_carries_the_ticket_token_on_one_line() -> None:
    assert with_token("Hello\nthere", "1a2b3c4d-0000") == "[#1a2b3c4d] Hello there"
    assert with_token("Re: [#1a2b3c4d] x", "1a2b3c4d-0000") == "Re: [#1a2b3c4d] x"
    assert NOW.year == 2026
