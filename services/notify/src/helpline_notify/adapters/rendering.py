"""Templates rendered by Jinja2 in its sandbox: tenants' templates never reach Python objects.

``TemplateEngine`` is the sandbox itself, bounding what one render may output. It cannot bound
time: a loop inside a loop, or one C-level string operation, holds the interpreter until it is
done, so production renders in worker processes it can kill (``adapters/isolated_rendering.py``).
``JinjaRenderer`` renders in the caller's thread, for tests and tools.
"""

import operator
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from helpline_notify.domain.errors import InvalidTemplate
from helpline_notify.domain.templates import EmailContent, TemplateSource

MAX_TEMPLATE_LENGTH = 100_000
COMPILED_TEMPLATES_KEPT = 512
DEFAULT_MAX_OUTPUT_BYTES = 1_000_000
LARGEST_EXPONENT = 1_000
"""``2 ** 10 ** 9`` is one C call that runs for minutes: exponents stay small."""


class OutputTooLarge(InvalidTemplate):
    """A render produced more than the configured number of bytes."""


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, refusing ``*`` and ``**`` results larger than a render may be."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, max_output_bytes: int, **options: Any) -> None:
        super().__init__(**options)
        self.max_output_bytes = max_output_bytes

    def call_binop(self, context: Context, op: str, left: Any, right: Any) -> Any:
        """Repeat a string or list only up to the output limit; keep exponents small."""
        if op == "**":
            if isinstance(right, int) and abs(right) > LARGEST_EXPONENT:
                raise SecurityError(f"exponent {right} is larger than {LARGEST_EXPONENT}")
            return operator.pow(left, right)
        for sequence, times in ((left, right), (right, left)):
            if (
                isinstance(sequence, str | list | tuple)
                and isinstance(times, int)
                and len(sequence) * times > self.max_output_bytes
            ):
                raise SecurityError(f"repetition longer than {self.max_output_bytes} items")
        return operator.mul(left, right)


_MAX_UTF8_BYTES = 4
"""UTF-8 bytes a character may take at most (a lone surrogate, passed through, takes 3)."""


def _bounded(chunks: Iterable[str], part: str, budget: int) -> tuple[str, int]:
    # Checked chunk by chunk, so a loop printing for ever stops at the limit, not at the end.
    # Characters are counted while even four bytes each would fit; only near the limit is each
    # chunk encoded to count its bytes (encoding every chunk was most of a render's bounding).
    collected: list[str] = []
    characters = 0
    exact = False
    for chunk in chunks:
        collected.append(chunk)
        if not exact:
            characters += len(chunk)
            if characters * _MAX_UTF8_BYTES <= budget:
                continue
            exact = True
            chunk = "".join(collected)
        budget -= len(chunk.encode("utf-8", "surrogatepass"))
        if budget < 0:
            raise OutputTooLarge(f"{part}: the rendered output is larger than the limit")
    text = "".join(collected)
    if not exact:
        budget -= len(text.encode("utf-8", "surrogatepass"))
    return text, budget


class TemplateEngine:
    """Renders subject and text without escaping, the HTML part autoescaped, output bounded."""

    def __init__(self, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES) -> None:
        self.max_output_bytes = max_output_bytes
        self._plain = _BoundedSandbox(max_output_bytes, autoescape=False, undefined=Undefined)
        self._html = _BoundedSandbox(max_output_bytes, autoescape=True, undefined=Undefined)
        self._strict = _BoundedSandbox(
            max_output_bytes, autoescape=False, undefined=StrictUndefined
        )
        # Compiling is most of a render's cost (profiled: 8 of 19 ms per ticket in notify);
        # the same few templates are rendered for every ticket, so keep them compiled.
        self._compiled_plain = lru_cache(COMPILED_TEMPLATES_KEPT)(self._plain.from_string)
        self._compiled_html = lru_cache(COMPILED_TEMPLATES_KEPT)(self._html.from_string)

    def check(self, source: TemplateSource) -> None:
        """Raise ``InvalidTemplate`` naming the part that does not compile."""
        for part, text in (
            ("subject", source.subject),
            ("text", source.text),
            ("html", source.html),
        ):
            if text is None:
                continue
            if len(text) > MAX_TEMPLATE_LENGTH:
                raise InvalidTemplate(f"{part}: longer than {MAX_TEMPLATE_LENGTH} characters")
            try:
                self._strict.parse(text)
            except TemplateError as error:
                raise InvalidTemplate(f"{part}: {error}") from error
            # Deep nesting makes the compiler itself fail (RecursionError): still the template's.
            except Exception as error:
                raise InvalidTemplate(f"{part}: {type(error).__name__}: {error}") from error

    def render(self, source: TemplateSource, context: dict[str, Any]) -> EmailContent:
        """Render the three parts with ``context``; ``InvalidTemplate`` if one fails."""
        budget = self.max_output_bytes
        # The variables of the three parts' contexts, made once (each template's ``new_context``
        # would merge its globals, a ChainMap, with ``context`` again): templates read them only,
        # what they ``set`` goes to their own context.
        variables = {**self._plain.globals, **context}
        rendered: dict[str, str | None] = {"html": None}
        parts: list[tuple[str, str | None, Any]] = [
            ("subject", source.subject, self._compiled_plain),
            ("text", source.text, self._compiled_plain),
            ("html", source.html, self._compiled_html),
        ]
        for part, text, compiled in parts:
            if text is None:
                continue
            try:
                template: Template = compiled(text)
                # The render function itself, not ``generate``: that wraps each chunk in a
                # generator of its own only to rewrite a failure's traceback (reported below).
                chunks = template.root_render_func(template.new_context(variables, shared=True))
                rendered[part], budget = _bounded(chunks, part, budget)
            except InvalidTemplate:
                raise
            # A tenant's template may raise anything (1/0, a sandbox refusal, a too-big range):
            # each is that template's fault, reported as such, never a crash of the handler.
            except Exception as error:
                raise InvalidTemplate(
                    f"{part}: rendering failed: {type(error).__name__}: {error}"[:1000]
                ) from error
        return EmailContent(
            subject=rendered["subject"] or "", text=rendered["text"] or "", html=rendered["html"]
        )


class JinjaRenderer:
    """The engine in the caller's thread: output is bounded, time is not (tests and tools)."""

    def __init__(self, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES) -> None:
        self._engine = TemplateEngine(max_output_bytes)

    async def check(self, source: TemplateSource, sample: dict[str, Any]) -> None:
        """Compile ``source`` and render it once with ``sample``; ``InvalidTemplate`` if not."""
        self._engine.check(source)
        self._engine.render(source, sample)

    async def render(self, source: TemplateSource, context: dict[str, Any]) -> EmailContent:
        """The rendered email."""
        return self._engine.render(source, context)
