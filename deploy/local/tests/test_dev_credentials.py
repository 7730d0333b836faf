"""``make run``'s credential files are readable by their owner only."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline_devstack import run


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_the_token_secret_is_written_and_kept_owner_only(tmp_path: Path) -> None:
    secret = run._token_secret(tmp_path)
    assert mode(tmp_path / "token-secret") == 0o600
    (tmp_path / "token-secret").chmod(0o644)  # as an earlier version left it
    assert run._token_secret(tmp_path) == secret
    assert mode(tmp_path / "token-secret") == 0o600


@pytest.mark.usefixtures("open_umask")
def test_the_dev_token_is_written_owner_only_even_over_a_readable_file(tmp_path: Path) -> None:
    token = tmp_path / "dev-token"
    token.write_text("old\n")
    token.chmod(0o644)
    run.write_private(token, "hl_new\n")
    assert token.read_text() == "hl_new\n"
    assert mode(token) == 0o600
