"""The README, the workspace guide and the chart's README link only to what exists; the README's
screenshots are the ones the browser tests write."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = (
    REPO / "README.md",
    REPO / "docs" / "workspace.md",
    REPO / "deploy" / "helm" / "helpline" / "README.md",
)
SCREENSHOTS = "docs/screenshots/"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(document: Path) -> list[str]:
    """Every link or image target of ``document`` that is a path, without its #anchor."""
    targets = (match.group(1) for match in LINK.finditer(document.read_text()))
    return [
        target.split("#", 1)[0]
        for target in targets
        if not target.startswith(("http://", "https://", "mailto:", "#"))
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_names_a_file_of_the_repository(document: Path) -> None:
    # Screenshots are written by the browser tests (checked below), not kept by hand.
    missing = [
        target
        for target in relative_links(document)
        if not (document.parent / target)
        .resolve()
        .relative_to(REPO)
        .as_posix()
        .startswith(SCREENSHOTS)
        and not (document.parent / target).exists()
    ]
    assert missing == []


def test_the_readme_shows_the_screenshots_the_browser_tests_write() -> None:
    shown = [
        target for target in relative_links(REPO / "README.md") if target.startswith(SCREENSHOTS)
    ]
    assert shown == ["docs/screenshots/my-work.png", "docs/screenshots/ticket.png"]
    written = {
        match.group(1)
        for path in (REPO / "tests" / "browser").glob("test_*.py")
        for match in re.finditer(r'\bscreenshot\(\w+, "([a-z0-9-]+)"\)', path.read_text())
    }
    assert {Path(target).stem for target in shown} <= written
