"""The ticket token outbound mail carries and inbound mail is threaded by (a contract).

Notify writes ``[#<first 8 characters of the ticket id>]`` into subjects; intake reads it there
or in a plus-address (``support+<8 characters>@…``).
"""

import re

TOKEN_LENGTH = 8
SUBJECT_TOKEN = re.compile(r"\[#([0-9a-f]{8})\]", re.IGNORECASE)
PLUS_ADDRESS_TOKEN = re.compile(r"^[^@+]+\+([0-9a-f]{8})@", re.IGNORECASE)


def ticket_token(ticket_id: str) -> str:
    """The token shown in subjects for ``ticket_id``, like ``[#1a2b3c4d]``."""
    return f"[#{ticket_id[:TOKEN_LENGTH]}]"
