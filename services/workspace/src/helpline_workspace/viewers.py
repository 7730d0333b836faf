"""Who is looking at which ticket, in this process: fed by the ticket pages' live connections
(viewing) and the composer's typing pings (replying); every entry expires unless renewed.

Kept in memory: with several workspace replicas, people on different replicas would not see each
other unless the sessions are sticky per tenant or the pings go through a shared channel.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

Activity = Literal["viewing", "replying"]
MAX_ENTRIES: Final = 100_000
"""Beyond this many entries new ones are ignored (bounded memory)."""


class TooManyViewers(Exception):
    """The registry holds as many entries as it may."""


@dataclass
class Entry:
    """One connection viewing, or one person typing, until ``expires``."""

    user_id: str
    name: str
    activity: Activity
    expires: float


@dataclass(frozen=True)
class Viewer:
    """A person on a ticket and what they are doing there."""

    user_id: str
    name: str
    activity: Activity


Key = tuple[str, str]
"""(tenant, ticket id)."""


class ViewerRegistry:
    """Viewers by (tenant, ticket); ``clock`` is monotonic seconds (injected in tests)."""

    def __init__(
        self,
        ttl: float,
        typing_ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.typing_ttl = typing_ttl if typing_ttl is not None else min(ttl, 15.0)
        self._clock = clock
        self._tickets: dict[Key, dict[str, Entry]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def _put(self, key: Key, slot: str, entry: Entry) -> bool:
        entries = self._tickets.setdefault(key, {})
        before = self._state(entries)
        if slot not in entries:
            if self._size >= MAX_ENTRIES:
                if not entries:
                    del self._tickets[key]
                raise TooManyViewers
            self._size += 1
        entries[slot] = entry
        return self._state(entries) != before

    def view(self, tenant: str, ticket_id: str, connection: str, user_id: str, name: str) -> bool:
        """A connection shows the ticket (again); whether what others see changed."""
        return self._put(
            (tenant, ticket_id),
            connection,
            Entry(user_id, name, "viewing", self._clock() + self.ttl),
        )

    def typing(self, tenant: str, ticket_id: str, user_id: str, name: str) -> bool:
        """The person is writing a reply or note; whether what others see changed."""
        return self._put(
            (tenant, ticket_id),
            f"typing:{user_id}",
            Entry(user_id, name, "replying", self._clock() + self.typing_ttl),
        )

    def leave(self, tenant: str, ticket_id: str, connection: str) -> bool:
        """A connection closed; whether what others see changed."""
        entries = self._tickets.get((tenant, ticket_id))
        if entries is None or connection not in entries:
            return False
        before = self._state(entries)
        user_id = entries.pop(connection).user_id
        self._size -= 1
        typing = f"typing:{user_id}"
        if typing in entries and not any(
            entry.user_id == user_id for slot, entry in entries.items() if slot != typing
        ):
            del entries[typing]  # their last page on the ticket closed: no longer replying
            self._size -= 1
        if not entries:
            del self._tickets[(tenant, ticket_id)]
        return self._state(entries) != before

    def viewers(self, tenant: str, ticket_id: str, excluding: str | None = None) -> list[Viewer]:
        """Who is on the ticket now (each person once; replying wins), but ``excluding``."""
        entries = self._tickets.get((tenant, ticket_id), {})
        now = self._clock()
        people: dict[str, Viewer] = {}
        for entry in entries.values():
            if entry.expires <= now or entry.user_id == excluding:
                continue
            known = people.get(entry.user_id)
            if known is None or entry.activity == "replying":
                people[entry.user_id] = Viewer(entry.user_id, entry.name, entry.activity)
        return sorted(people.values(), key=lambda viewer: (viewer.name, viewer.user_id))

    def sweep(self) -> list[Key]:
        """Drop expired entries; the tickets whose viewers changed."""
        now = self._clock()
        changed = []
        for key in list(self._tickets):
            entries = self._tickets[key]
            before = self._state(entries, now=float("-inf"))
            for slot in [slot for slot, entry in entries.items() if entry.expires <= now]:
                del entries[slot]
                self._size -= 1
            if not entries:
                del self._tickets[key]
            if self._state(entries, now) != before:
                changed.append(key)
        return changed

    def _state(
        self, entries: dict[str, Entry], now: float | None = None
    ) -> frozenset[tuple[str, Activity]]:
        """What others see of ``entries``: each live person and their activity."""
        at = self._clock() if now is None else now
        people: dict[str, Activity] = {}
        for entry in entries.values():
            if entry.expires > at and people.get(entry.user_id) != "replying":
                people[entry.user_id] = entry.activity
        return frozenset(people.items())
