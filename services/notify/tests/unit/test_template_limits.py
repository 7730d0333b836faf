"""Templates are bounded: a render may take so long and output so much, and never stalls notify.

The isolated renderer runs real worker processes; the limits are small so the tests stay fast.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from notify_testkit import (
    IDENTITY,
    TENANT,
    UnitOfWorkFactory,
    envelope_of,
    ledger,
    new_ticket_id,
    published,
    ticket_created,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline_notify.adapters.isolated_rendering import IsolatedRenderer, RenderLimits
from helpline_notify.adapters.rendering import JinjaRenderer
from helpline_notify.domain.errors import InvalidTemplate
from helpline_notify.domain.templates import TemplateSource, sample_context
from helpline_notify.entrypoints import http
from helpline_notify.service_layer.emails import EmailComposer
from helpline_notify.service_layer.handlers import EmailPolicy, on_event
from helpline_shared.events import NotificationSuppressed
from helpline_shared.runtime.auth import CredentialVerifier
from helpline_shared.runtime.problems import install_problem_handlers

TIMEOUT = 0.5
SLACK = 1.5
"""Killing and reaping a worker on a busy two-core machine."""
ENDLESS = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
ENDLESS_FOR_BOOM = "{% if ticket.subject == 'boom' %}" + ENDLESS + "{% endif %}Hello"
CREATED = "helpline.ticket.created.v1"
TENANTS_OWN = TemplateSource(subject="{{ ticket.subject }}", text="Hello {{ recipient }}")
"""A tenant's template: rendered by a worker process (Helpline's own render in-process)."""


@pytest.fixture
async def renderer() -> AsyncIterator[IsolatedRenderer]:
    isolated = IsolatedRenderer(RenderLimits(timeout=TIMEOUT, max_output_bytes=10_000, workers=2))
    yield isolated
    await isolated.aclose()


async def _warm(renderer: IsolatedRenderer) -> None:
    """Start every worker, so the timed renders do not include a worker's start-up."""
    await asyncio.gather(
        *(
            renderer.render(TENANTS_OWN, sample_context(CREATED))
            for _worker in range(renderer.limits.workers)
        )
    )


async def _worst_lag(until: "asyncio.Task[object]") -> float:
    """The longest the event loop kept a 10 ms timer waiting beyond its due time."""
    worst = 0.0
    while not until.done():
        started = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - started - 0.01)
    return worst


async def test_an_endless_loop_fails_within_the_limit_and_the_loop_stays_free(
    renderer: IsolatedRenderer,
) -> None:
    await _warm(renderer)
    started = time.monotonic()
    endless = asyncio.create_task(
        renderer.render(TemplateSource(subject="x", text=ENDLESS), sample_context(CREATED))
    )
    lag = await _worst_lag(endless)

    with pytest.raises(InvalidTemplate, match=r"rendering took longer than 0.5 s"):
        await endless
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert lag < 0.1
    # The killed worker is replaced: the next render works.
    content = await renderer.render(TENANTS_OWN, sample_context(CREATED))
    assert "Printer on fire" in content.subject


async def test_other_renders_go_on_while_one_template_loops(renderer: IsolatedRenderer) -> None:
    await _warm(renderer)
    endless = asyncio.create_task(
        renderer.render(TemplateSource(subject="x", text=ENDLESS), sample_context(CREATED))
    )
    await asyncio.sleep(0)
    started = time.monotonic()
    await renderer.render(TENANTS_OWN, sample_context(CREATED))
    assert time.monotonic() - started < TIMEOUT
    with pytest.raises(InvalidTemplate):
        await endless


@pytest.mark.parametrize(
    "text",
    [
        "{% for i in range(100000) %}{{ 'abcdefghij' * 100 }}{% endfor %}",
        "{{ 'x' * 10**9 }}",
        "{{ ('%0999999999d' | format(1)) | length }}",
    ],
)
async def test_output_and_memory_are_bounded(renderer: IsolatedRenderer, text: str) -> None:
    with pytest.raises(InvalidTemplate):
        await renderer.render(TemplateSource(subject="x", text=text), {})
    assert (await renderer.render(TemplateSource(subject="x", text="ok"), {})).text == "ok"


async def test_the_output_limit_counts_all_parts_and_names_the_one_over_it() -> None:
    renderer = JinjaRenderer(max_output_bytes=1_000)
    within = TemplateSource(subject="s", text="{{ 'a' * 600 }}", html="{{ 'b' * 300 }}")
    assert len((await renderer.render(within, {})).text) == 600
    beyond = TemplateSource(subject="s", text="{{ 'a' * 600 }}", html="{{ 'é' * 300 }}")
    with pytest.raises(InvalidTemplate, match=r"^html: the rendered output is larger"):
        await renderer.render(beyond, {})


async def test_a_template_endless_on_real_data_suppresses_its_email_with_the_reason(
    renderer: IsolatedRenderer,
    unit_of_work: UnitOfWorkFactory,
    engine: AsyncEngine,
) -> None:
    async with unit_of_work() as uow:
        await uow.templates.put(
            TENANT,
            CREATED,
            "en",
            TemplateSource(subject="Got it", text=ENDLESS_FOR_BOOM),
            ticket_created("x").occurred_at,
        )
        await uow.commit()
    policy = EmailPolicy(escalation_email="escalations@example.com")
    composer = EmailComposer(renderer)
    hostile, ordinary = new_ticket_id(), new_ticket_id()
    boom = ticket_created(hostile).model_copy(update={"subject": "boom"})

    await _warm(renderer)
    started = time.monotonic()
    assert await on_event(envelope_of(boom), unit_of_work(), policy, composer) == 0
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert (
        await on_event(envelope_of(ticket_created(ordinary)), unit_of_work(), policy, composer) == 1
    )

    [delivery] = await ledger(unit_of_work, hostile)
    assert delivery.status == "suppressed"
    [event] = [
        e.event for e in await published(engine) if isinstance(e.event, NotificationSuppressed)
    ]
    assert event.reason == "no_template"
    assert event.detail is not None and "rendering took longer than 0.5 s" in event.detail
    [sent] = await ledger(unit_of_work, ordinary)
    assert sent.status == "pending" and sent.payload.startswith("Hello")


def _app(unit_of_work: UnitOfWorkFactory, renderer: IsolatedRenderer) -> FastAPI:
    app = FastAPI()
    app.state.verifier = CredentialVerifier(IDENTITY.url, IDENTITY.issuer)
    install_problem_handlers(app)
    for router in http.routers(
        http.ApiOptions(
            unit_of_work=unit_of_work,
            renderer=renderer,
            max_page_size=50,
            allow_private_networks=False,
            rotation_overlap=timedelta(0),
            wake_worker=lambda: None,
        )
    ):
        app.include_router(router)
    return app


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (ENDLESS, "rendering took longer than 0.5 s"),
        ("{% for i in range(100000) %}{{ i }}{% endfor %}", "larger than the limit"),
        ("{{ ticket.subject.nope() }}", "rendering failed"),
    ],
)
async def test_saving_a_template_renders_it_once_and_refuses_it_naming_the_error(
    renderer: IsolatedRenderer,
    unit_of_work: UnitOfWorkFactory,
    text: str,
    reason: str,
) -> None:
    token = IDENTITY.api_key(TENANT, ("admin",))  # templates are changed by admins
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_app(unit_of_work, renderer)),
        base_url="http://notify",
        headers={"authorization": f"Bearer {token}"},
    ) as api:
        refused = await api.put(f"/v1/templates/{CREATED}/en", json={"subject": "Hi", "text": text})
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert reason in refused.json()["detail"]
        assert (
            await api.put(
                f"/v1/templates/{CREATED}/en", json={"subject": "Hi", "text": ENDLESS_FOR_BOOM}
            )
        ).status_code == 204
