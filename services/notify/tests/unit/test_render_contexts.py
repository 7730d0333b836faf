"""The three parts of an email render from the same variables, none seeing what another set."""

from helpline_notify.adapters.rendering import TemplateEngine
from helpline_notify.domain.templates import TemplateSource


def test_what_one_part_sets_is_not_seen_by_the_next() -> None:
    source = TemplateSource(
        subject="{% set name = 'changed' %}{{ name }}", text="[{{ name }}]", html="<{{ name }}>"
    )

    content = TemplateEngine().render(source, {"name": "Ann"})

    assert (content.subject, content.text, content.html) == ("changed", "[Ann]", "<Ann>")


def test_the_context_wins_over_a_global_of_the_same_name_and_globals_stay() -> None:
    source = TemplateSource(
        subject="{{ range }}", text="{% for i in dict(a=1) %}{{ i }}{% endfor %}"
    )

    content = TemplateEngine().render(source, {"range": "mine"})

    assert (content.subject, content.text) == ("mine", "a")
