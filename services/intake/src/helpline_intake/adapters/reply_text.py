"""What a person newly wrote in a reply mail: quoted mail and signature cut off (quotequail).

Only what follows the new text is ever cut (a top-posted reply's quote, its intro line, a
signature), never a line above it: an interleaved or bottom-posted reply keeps its quotes rather
than lose what its author wrote between them. Nothing is rewritten: the result is always the
first lines of the text, as they were.
"""

import re

import quotequail

MAX_LINE = 998
"""Lines are cut to this length (RFC 5322's limit) before patterns look at them."""
_SIGNATURE_DELIMITERS = frozenset({"-- ", "--"})
"""RFC 3676 4.3's "-- " line; many clients drop its trailing space."""
_DEVICE_SIGNATURE = re.compile(
    r"(sent from my \S.*|sent from outlook for \S.*|get outlook for \S.*|"
    r"von meinem \S.* gesendet|envoyé de mon \S.*|enviado desde mi \S.*)",
    re.IGNORECASE,
)
_WROTE = re.compile(r".*\bwrote:\s*$", re.IGNORECASE)


def _before_quote(lines: list[str]) -> list[str]:
    """The lines above the first reply intro or forward separator quotequail finds."""
    probe = "\n".join(line[:MAX_LINE] for line in lines)
    parts = quotequail.quote(probe, limit=len(lines) + 1, quote_intro_line=True)
    if len(parts) < 2:
        return lines
    kept = parts[0][1]
    return lines[: kept.count("\n") + 1] if kept else []


def _without_trailing_quote(lines: list[str]) -> list[str]:
    """Without the ``>`` block that ends a top-posted reply (and its "... wrote:" line)."""
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        end -= 1
    if end == len(lines) or not any(line.lstrip().startswith(">") for line in lines[end:]):
        return lines
    if end and _WROTE.match(lines[end - 1][:MAX_LINE]):
        end -= 1
    return lines[:end]


def _without_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if index and line in _SIGNATURE_DELIMITERS:
            return lines[:index]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if lines and _DEVICE_SIGNATURE.fullmatch(lines[-1].strip()[:MAX_LINE]):
        return lines[:-1]
    return lines


def new_text(text: str) -> str:
    """The part of a reply its author wrote now; "" when it is all quote and signature."""
    lines = text.replace("\r\n", "\n").split("\n")
    lines = _without_signature(_without_trailing_quote(_before_quote(lines)))
    return "\n".join(lines).strip("\n").rstrip()
