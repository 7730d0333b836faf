"""``make run``'s credential files are readable by their owner only."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpline_devstack.identity import operator_environment, secret_file
from helpline_devstack.private import write_private


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_the_operator_key_is_written_owner_only_and_kept(tmp_path: Path) -> None:
    key = secret_file(tmp_path / "operator-key")
    assert mode(tmp_path / "operator-key") == 0o600
    assert secret_file(tmp_path / "operator-key") == key
    # identity gets only the key's hash
    assert key not in operator_environment(tmp_path)["HELPLINE_OPERATOR_KEY_SHA256"]


@pytest.mark.usefixtures("open_umask")
def test_the_dev_token_is_written_owner_only_even_over_a_readable_file(tmp_path: Path) -> None:
    token = tmp_path / "dev-token"
    token.write_text("old\n")
    token.chmod(0o644)
    write_private(token, "hlk_new\n")
    assert token.read_text() == "hlk_new\n"
    assert mode(token) == 0o600
