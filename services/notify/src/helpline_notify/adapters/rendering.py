"""Templates rendered by Jinja2 in its sandbox: tenants' templates never reach Python objects."""

from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from helpline_notify.domain.errors import InvalidTemplate
from helpline_notify.domain.templates import EmailContent, TemplateSource

MAX_TEMPLATE_LENGTH = 100_000


class JinjaRenderer:
    """Renders subject and text without escaping, and the HTML part autoescaped."""

    def __init__(self) -> None:
        self._plain = ImmutableSandboxedEnvironment(autoescape=False, undefined=Undefined)
        self._html = ImmutableSandboxedEnvironment(autoescape=True, undefined=Undefined)
        self._strict = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)

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
            subject = self._plain.from_string(source.subject).render(context)
            text = self._plain.from_string(source.text).render(context)
            html = (self._html.from_string(source.html).render(context)
                    if source.html is not None else None)
        # A tenant's template may raise anything (1/0, a sandbox refusal, a too-big range):
        # each is that template's fault, reported as such, never a crash of the handler.
        except Exception as error:
            raise InvalidTemplate(f"rendering failed: {type(error).__name__}: {error}") from error
        return EmailContent(subject=subject, text=text, html=html)
