"""The output limit counts UTF-8 bytes across the three parts, whatever the characters are."""

import pytest

from helpline_notify.adapters.rendering import OutputTooLarge, TemplateEngine
from helpline_notify.domain.templates import TemplateSource

LIMIT = 64


@pytest.mark.parametrize("character", ["a", "é", "€", "😀"])
def test_output_of_exactly_the_limit_renders_and_one_byte_more_does_not(character: str) -> None:
    engine = TemplateEngine(max_output_bytes=LIMIT)
    width = len(character.encode())
    count = LIMIT // width
    filler = "x" * (LIMIT - count * width)
    # One chunk per character (a loop), so the bound is checked as the output grows.
    text = "{% for i in range(n) %}{{ c }}{% endfor %}" + filler
    fits = engine.render(TemplateSource(subject="", text=text), {"n": count, "c": character})
    assert len(fits.text.encode()) == LIMIT

    with pytest.raises(OutputTooLarge):
        engine.render(TemplateSource(subject="", text=text + "y"), {"n": count, "c": character})


def test_the_limit_is_shared_by_subject_text_and_html() -> None:
    engine = TemplateEngine(max_output_bytes=LIMIT)
    third = "€" * 7  # 21 bytes

    content = engine.render(TemplateSource(subject=third, text=third, html=third + "x"), {})
    assert content.html == third + "x"

    with pytest.raises(OutputTooLarge, match="html"):
        engine.render(TemplateSource(subject=third, text=third, html=third + "xy"), {})


def test_a_render_printing_for_ever_stops_at_the_limit() -> None:
    engine = TemplateEngine(max_output_bytes=LIMIT)
    endless = "{% for i in range(99999) %}{% for j in range(99999) %}é{% endfor %}{% endfor %}"

    with pytest.raises(OutputTooLarge, match="text"):
        engine.render(TemplateSource(subject="s", text=endless), {})
