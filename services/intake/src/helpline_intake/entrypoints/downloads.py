"""Headers of every file intake serves: downloaded, never sniffed or rendered in our origin."""

import re
from urllib.parse import quote

from helpline_shared.inputs import without_unsafe_characters

_NOT_QUOTABLE = re.compile(r'[^\x20-\x7e]|["\\]')


def download_headers(filename: str) -> dict[str, str]:
    """``Content-Disposition: attachment`` (RFC 6266, UTF-8 ``filename*``), nosniff, sandbox."""
    name = without_unsafe_characters(filename).replace("/", "_").replace("\\", "_").strip()
    name = name or "download"
    fallback = _NOT_QUOTABLE.sub("_", name)
    return {
        "content-disposition": f'attachment; filename="{fallback}"; '
        f"filename*=UTF-8''{quote(name, safe='')}",
        "x-content-type-options": "nosniff",
        # Opened directly anyway, an HTML or SVG file runs no script with our origin.
        "content-security-policy": "default-src 'none'; sandbox",
    }
