"""An agent's mail that starts with ``#note`` is an internal note, not a reply to the customer."""

import re

_NOTE = re.compile(r"#note(?![\w-])[ \t]*:?[ \t]*", re.IGNORECASE)


def split_note(text: str) -> tuple[bool, str]:
    """(whether the first non-blank line is ``#note``, the text without that marker)."""
    stripped = text.lstrip()
    marker = _NOTE.match(stripped)
    if marker is None:
        return False, text
    return True, stripped[marker.end() :].lstrip("\r\n")
