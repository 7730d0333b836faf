"""The browser tests' fixtures: all of Helpline with the workspace, once per test session, and
Debian's Chromium driven by Playwright (``executable_path``, no browser download).

Each test makes its own people (``helpline.person("agent", skills={...})``) and tickets, so the
tests share one running Helpline without seeing each other's work. In ``browser_support``:
``signed_in(page, helpline, person)`` signs a page in through the real form, ``axe_check(page)``
fails on any serious or critical accessibility violation, ``screenshot(page, name)`` writes
``docs/screenshots/<name>.png`` (the README shows them).
"""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from helpline_devstack.journeys import Helpline, running_helpline
from helpline_devstack.kafka import KafkaNode
from helpline_devstack.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHROMIUM = os.environ.get("HELPLINE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def helpline(
    kafka: KafkaNode, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Helpline]:
    """Identity, the four services and the workspace, as ``make run`` starts them."""
    with running_helpline(
        kafka, postgres, tmp_path_factory.mktemp("dot-helpline"), stem="browser", workspace=True
    ) as running:
        yield running


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API, per module: while it runs, its event loop is the thread's running
    loop, which the asyncio tests of later modules must not find."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make test-deps` (installs Debian's chromium)")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Pages in fresh browser contexts (each its own cookies: a second person, a second tab)."""
    contexts: list[BrowserContext] = []

    def make(timezone: str = "Europe/Berlin") -> Page:
        context = browser.new_context(
            timezone_id=timezone, locale="en-GB", viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """One page in its own browser context."""
    return new_page()
