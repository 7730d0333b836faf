"""A private Dovecot IMAP server for tests: plain auth from a passwd-file, mail in a temp maildir.

Run from Debian's ``dovecot-imapd`` as a foreground process on 127.0.0.1 with its own config,
state and log under ``home``; nothing of the system's Dovecot configuration is used.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from helpline_devstack._proc import free_port, log_tail, port_open

HOST = "127.0.0.1"
DOVECOT = "/usr/sbin/dovecot"


class DovecotError(RuntimeError):
    """The private Dovecot could not be started."""


def _users() -> tuple[str, str, int, int]:
    """(internal user, login user, mail uid, mail gid): Dovecot never serves mail as root."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid())
        return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid
    internal = pwd.getpwnam("dovecot")
    login = pwd.getpwnam("dovenull")
    return internal.pw_name, login.pw_name, internal.pw_uid, internal.pw_gid


class DovecotServer:
    """Dovecot serving IMAP (no TLS) on 127.0.0.1:``port`` for the users added to it."""

    def __init__(self, home: Path, port: int | None = None) -> None:
        self.home = self._reachable_home(Path(home).resolve())
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._users: dict[str, str] = {}

    @staticmethod
    def _reachable_home(home: Path) -> Path:
        """``home``, or a dir in /tmp when Dovecot's users cannot traverse to it."""
        home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return home
        probe = ["runuser", "-u", "dovecot", "--", "test", "-x", str(home)]
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return home
        # E.g. pytest's 0700 /tmp/pytest-of-root: keep the server's files in /tmp instead.
        digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
        base = Path("/tmp") / f"helpline-dovecot-{digest}"
        base.mkdir(mode=0o755, exist_ok=True)
        (home / "dovecot-location.txt").write_text(f"{base}\n")
        return base

    @property
    def log_file(self) -> Path:
        """Dovecot's log."""
        return self.home / "dovecot.log"

    def add_user(self, username: str, password: str) -> None:
        """Allow ``username`` (e.g. an address) to log in with ``password`` (before start)."""
        if ":" in username + password or "\n" in username + password:
            raise ValueError("user names and passwords must not contain ':' or newlines")
        self._users[username] = password

    def start(self, timeout: float = 20) -> None:
        """Write the config and start Dovecot in the foreground; wait until IMAP answers."""
        if shutil.which(DOVECOT) is None and not Path(DOVECOT).exists():
            raise DovecotError(f"{DOVECOT} not found: apt-get install dovecot-imapd")
        config = self._write_config()
        log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DovecotError(
                    f"dovecot exited with {self._process.returncode}:\n" + log_tail(self.log_file)
                )
            if port_open(HOST, self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise DovecotError(f"dovecot did not listen within {timeout}s:\n" + log_tail(self.log_file))

    def stop(self) -> None:
        """Stop Dovecot (SIGTERM, then SIGKILL)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def destroy(self) -> None:
        """Stop Dovecot and delete its config, state and mail."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _write_config(self) -> Path:
        internal, login, uid, gid = _users()
        for name in ("run", "state", "mail"):
            (self.home / name).mkdir(parents=True, exist_ok=True)
        os.chown(self.home / "mail", uid, gid)
        # Dovecot's processes (other users when run as root) must reach the base dir.
        self.home.chmod(0o755)
        passwd = self.home / "passwd"
        passwd.write_text(
            "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in self._users.items())
        )
        passwd.chmod(0o644)
        config = self.home / "dovecot.conf"
        config.write_text(f"""\
base_dir = {self.home}/run
state_dir = {self.home}/state
log_path = {self.log_file}
protocols = imap
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
first_valid_uid = {uid}
mail_location = maildir:{self.home}/mail/%u
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.home}/mail/%u
}}
""")
        return config
