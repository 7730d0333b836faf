"""The viewer registry: who is on a ticket, replying wins, entries expire (injected clock)."""

import pytest

from helpline_workspace import viewers as viewers_module
from helpline_workspace.viewers import TooManyViewers, Viewer, ViewerRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_others_see_a_viewer_until_the_connection_leaves() -> None:
    clock = Clock()
    registry = ViewerRegistry(ttl=45, clock=clock)
    assert registry.view("acme", "t-1", "c-1", "usr-ana", "Ana Agent") is True
    assert registry.view("acme", "t-1", "c-1", "usr-ana", "Ana Agent") is False  # renewed
    assert registry.viewers("acme", "t-1", excluding="usr-bob") == [
        Viewer("usr-ana", "Ana Agent", "viewing")
    ]
    assert registry.viewers("acme", "t-1", excluding="usr-ana") == []
    assert registry.viewers("globex", "t-1") == []  # tenants never mix
    assert registry.leave("acme", "t-1", "c-1") is True
    assert registry.viewers("acme", "t-1") == [] and len(registry) == 0


def test_two_tabs_of_one_person_show_once_and_stay_until_both_close() -> None:
    registry = ViewerRegistry(ttl=45, clock=Clock())
    registry.view("acme", "t-1", "c-1", "usr-ana", "Ana Agent")
    assert registry.view("acme", "t-1", "c-2", "usr-ana", "Ana Agent") is False
    assert len(registry.viewers("acme", "t-1")) == 1
    assert registry.leave("acme", "t-1", "c-1") is False
    assert registry.leave("acme", "t-1", "c-2") is True


def test_typing_shows_as_replying_then_falls_back_to_viewing() -> None:
    clock = Clock()
    registry = ViewerRegistry(ttl=45, typing_ttl=10, clock=clock)
    registry.view("acme", "t-1", "c-1", "usr-ana", "Ana Agent")
    assert registry.typing("acme", "t-1", "usr-ana", "Ana Agent") is True
    assert registry.viewers("acme", "t-1")[0].activity == "replying"
    clock.now += 11
    assert registry.sweep() == [("acme", "t-1")]
    assert registry.viewers("acme", "t-1")[0].activity == "viewing"


def test_closing_the_last_page_on_a_ticket_ends_replying_too() -> None:
    registry = ViewerRegistry(ttl=45, clock=Clock())
    registry.view("acme", "t-1", "c-1", "usr-bob", "Bob Builder")
    registry.view("acme", "t-1", "c-2", "usr-bob", "Bob Builder")
    registry.typing("acme", "t-1", "usr-bob", "Bob Builder")
    assert registry.leave("acme", "t-1", "c-1") is False  # another tab still open
    assert registry.viewers("acme", "t-1")[0].activity == "replying"
    assert registry.leave("acme", "t-1", "c-2") is True
    assert registry.viewers("acme", "t-1") == [] and len(registry) == 0


def test_a_viewer_not_heard_from_expires_and_the_sweep_says_where() -> None:
    clock = Clock()
    registry = ViewerRegistry(ttl=45, clock=clock)
    registry.view("acme", "t-1", "c-1", "usr-ana", "Ana Agent")
    registry.view("acme", "t-2", "c-2", "usr-bob", "Bob Agent")
    clock.now += 30
    registry.view("acme", "t-2", "c-2", "usr-bob", "Bob Agent")
    assert registry.sweep() == []
    clock.now += 20
    assert registry.viewers("acme", "t-1") == []  # expired even before the sweep
    assert registry.sweep() == [("acme", "t-1")]
    assert [v.name for v in registry.viewers("acme", "t-2")] == ["Bob Agent"]
    assert len(registry) == 1


def test_the_registry_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viewers_module, "MAX_ENTRIES", 2)
    registry = ViewerRegistry(ttl=45, clock=Clock())
    registry.view("acme", "t-1", "c-1", "usr-ana", "Ana")
    registry.typing("acme", "t-1", "usr-ana", "Ana")
    with pytest.raises(TooManyViewers):
        registry.view("acme", "t-2", "c-2", "usr-bob", "Bob")
    assert registry.viewers("acme", "t-2") == [] and len(registry) == 2
