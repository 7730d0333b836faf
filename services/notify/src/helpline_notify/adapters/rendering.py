"""Templates rendered by Jinja2 in its sandbox: tenants' templates never reach Python objects."""

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from helpline_notify.domain.errors import InvalidTemplate
from helpline_notify.domain.templates import EmailContent, TemplateSource

MAX_TEMPLATE_LENGTH = 100_000
COMPILED_TEMPLATES_KEPT = 512


class JinjaRenderer:
    """Renders subject and text without escaping, and the HTML part autoescaped."""

    def __init__(self) -> None:
        self._plain = ImmutableSandboxedEnvironment(autoescape=False, undefined=Undefined)
        self._html = ImmutableSandboxedEnvironment(autoescape=True, undefined=Undefined)
        self._strict = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
        # Compiling is most of a render's cost (profiled: 8 of 19 ms per ticket in notify);
        # the same few templates are rendered for every ticket, so keep them compiled.
        self._compiled_plain = lru_cache(COMPILED_TEMPLATES_KEPT)(self._plain.from_string)
        self._compiled_html = lru_cache(COMPILED_TEMPLATES_KEPT)(self._html.from_string)

    def check(self, source: TemplateSource) -> None:
        """Raise ``InvalidTemplate`` naming the part that does not compile."""
        for part, text in (("subject", source.subject), ("text", source.text),
                           ("html", source.html)):
            if text is None:
                continue
            if len(text) > MAX_TEMPLATE_LENGTH:
                raise InvalidTemplate(f"{part}: longer than {MAX_TEMPLATE_LENGTH} characters")
            try:
                self._strict.parse(text)
            except TemplateError as error:
                raise InvalidTemplate(f"{part}: {error}") from error

    def render(self, source: TemplateSource, context: dict[str, Any]) -> EmailContent:
        """Render the three parts with ``context``; ``InvalidTemplate`` if one fails."""
        try:
            subject = self._compiled_plain(source.subject).render(context)
            text = self._compiled_plain(source.text).render(context)
            html = (self._compiled_html(source.html).render(context)
                    if source.html is not None else None)
        # A tenant's template may raise anything (1/0, a sandbox refusal, a too-big range):
        # each is that template's fault, reported as such, never a crash of the handler.
        except Exception as error:
            raise InvalidTemplate(f"rendering failed: {type(error).__name__}: {error}") from error
        return EmailContent(subject=subject, text=text, html=html)

