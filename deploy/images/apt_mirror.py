"""Print the Debian archive URIs this machine's apt uses for a suite: main mirror, then security.

Read from /etc/apt/sources.list and sources.list.d (one-line and deb822 formats), so that no
mirror host name is ever written into the repository.
"""

import sys
from pathlib import Path

APT = Path("/etc/apt")


def _one_line_entries(text: str) -> list[tuple[str, list[str]]]:
    entries = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["deb"]:
            continue
        words = [word for word in words[1:] if not word.startswith("[")]
        if len(words) >= 2:
            entries.append((words[0], [words[1]]))
    return entries


def _deb822_entries(text: str) -> list[tuple[str, list[str]]]:
    entries = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        for uri in fields.get("uris", "").split():
            entries.append((uri, fields.get("suites", "").split()))
    return entries


def entries(apt: Path = APT) -> list[tuple[str, list[str]]]:
    """Every enabled (URI, suites) pair of the apt sources under ``apt``."""
    found = []
    files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]
    for path in files:
        if path.suffix == ".list" and path.is_file():
            found += _one_line_entries(path.read_text())
        elif path.suffix == ".sources" and path.is_file():
            found += _deb822_entries(path.read_text())
    return found


def main() -> int:
    suite = sys.argv[1] if len(sys.argv) > 1 else "bookworm"
    found = entries()
    main_uri = next((uri for uri, suites in found if suite in suites), None)
    if main_uri is None:
        print(f"no apt source for {suite} in {APT}", file=sys.stderr)
        return 1
    security = next((uri for uri, suites in found if f"{suite}-security" in suites), "")
    print(main_uri.rstrip("/"), security.rstrip("/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
