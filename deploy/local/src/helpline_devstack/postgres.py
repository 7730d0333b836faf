"""A private PostgreSQL cluster run from Debian's server binaries."""

from __future__ import annotations

import hashlib
import os
import pwd
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from helpline_devstack._proc import log_tail

HOST = "127.0.0.1"
USER = "helpline"
PG_ROOT = Path("/usr/lib/postgresql")
# sun_path holds 108 bytes; the socket file name adds ".s.PGSQL.<port>".
MAX_SOCKET_DIR = 90


class PostgresError(RuntimeError):
    """The private PostgreSQL cluster could not be set up or used."""


def find_bin_dir(root: Path = PG_ROOT) -> Path:
    """Return the bin dir of the newest installed PostgreSQL major version."""
    candidates = [
        path.parent for path in root.glob("*/bin/pg_ctl") if path.parent.parent.name.isdigit()
    ]
    if not candidates:
        raise PostgresError(
            f"no PostgreSQL server binaries under {root}/*/bin: apt-get install postgresql"
        )
    return max(candidates, key=lambda path: int(path.parent.name))


class PostgresServer:
    """A PostgreSQL cluster owned by this project, listening on 127.0.0.1:``port`` only."""

    def __init__(self, home: Path, port: int = 25432) -> None:
        self.home = Path(home).resolve()
        self.port = port
        self._as_postgres = os.geteuid() == 0
        self._base: Path | None = None

    @property
    def base(self) -> Path:
        """Return the dir holding data, socket and log (``home`` unless unreachable)."""
        if self._base is None:
            self._base = self._choose_base()
        return self._base

    @property
    def data_dir(self) -> Path:
        """Return the cluster's data directory."""
        return self.base / "data"

    @property
    def log_file(self) -> Path:
        """Return the server log written by pg_ctl."""
        return self.base / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        """The directory of the cluster's Unix socket."""
        return self.base / "run"

    def url(self, name: str) -> str:
        """Return the SQLAlchemy asyncpg URL of database ``name``."""
        return f"postgresql+asyncpg://{USER}@{HOST}:{self.port}/{quote(name, safe='')}"

    def socket_url(self, name: str) -> str:
        """The SQLAlchemy asyncpg URL of database ``name`` over the cluster's Unix socket.

        For a client on this machine: a round trip skips the loopback TCP stack, which both
        ends pay in CPU (about 25 us a round trip together, client and server, on the 2-core
        machine; a ticket costs the services some 20 round trips)."""
        where = quote(str(self.socket_dir), safe="")
        return f"postgresql+asyncpg://{USER}@/{quote(name, safe='')}?host={where}&port={self.port}"

    def start(self, timeout: float = 60) -> None:
        """Initialise the cluster once and start it; no-op if it already runs."""
        bin_dir = find_bin_dir()
        running_port = self._running_port(bin_dir)
        if running_port is not None:
            if running_port != self.port:
                raise PostgresError(
                    f"cluster in {self.data_dir} already runs on port {running_port}; stop it first"
                )
            return
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb(bin_dir)
        self._make_dir(self.socket_dir)
        options = f"-h {HOST} -p {self.port} -k {shlex.quote(str(self.socket_dir))}"
        result = self._run(
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                str(int(timeout)),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
            ],
        )
        if result.returncode != 0:
            raise PostgresError(
                f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n"
                f"last lines of {self.log_file}:\n{log_tail(self.log_file)}"
            )

    def stop(self) -> None:
        """Stop the cluster with pg_ctl's fast mode; no-op if it is not running."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        bin_dir = find_bin_dir()
        if self._running_port(bin_dir) is None:
            return
        result = self._run(
            [
                str(bin_dir / "pg_ctl"),
                "stop",
                "-w",
                "-m",
                "fast",
                "-D",
                str(self.data_dir),
            ]
        )
        if result.returncode != 0:
            raise PostgresError(f"pg_ctl stop failed:\n{result.stdout}{result.stderr}")

    def destroy(self) -> None:
        """Stop the cluster and delete its data, including a /tmp fallback dir."""
        self.stop()
        if self.base == self.home:
            for name in ("data", "run", "postgres.log"):
                path = self.home / name
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        else:
            shutil.rmtree(self.base, ignore_errors=True)
            (self.home / "data-location.txt").unlink(missing_ok=True)

    def create_database(self, name: str) -> str:
        """Create database ``name`` unless it exists; return its SQLAlchemy URL."""
        if not name or len(name.encode()) > 63:
            raise ValueError(f"invalid PostgreSQL database name: {name!r}")
        script = (
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \\gexec\n"
        )
        result = subprocess.run(
            [
                str(find_bin_dir() / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                f"name={name}",
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                USER,
                "-d",
                "postgres",
            ],
            input=script,
            capture_output=True,
            text=True,
            check=False,
        )
        # A concurrent creator may win the race between the check and CREATE.
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise PostgresError(f"cannot create database {name!r}:\n{result.stderr}")
        return self.url(name)

    # -- internals ------------------------------------------------------------

    def _owner(self) -> tuple[int, int]:
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            return entry.pw_uid, entry.pw_gid
        return os.getuid(), os.getgid()

    def _run(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        if self._as_postgres:
            # PostgreSQL refuses to run as root.
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(
            list(argv),
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )

    def _make_dir(self, path: Path) -> None:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        uid, gid = self._owner()
        if (path.stat().st_uid, path.stat().st_gid) != (uid, gid):
            os.chown(path, uid, gid)

    def _reachable(self, path: Path) -> bool:
        if not self._as_postgres:
            return True
        probe = ["runuser", "-u", "postgres", "--", "test", "-x", str(path)]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    def _choose_base(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        short = len(str(self.home / "run")) <= MAX_SOCKET_DIR
        if short and self._reachable(self.home):
            self._make_dir(self.home)
            return self.home
        # The postgres user cannot traverse to home (e.g. pytest's 0700 /tmp/pytest-of-root)
        # or its path is too long for a unix socket: keep the cluster in /tmp instead.
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        base = Path("/tmp") / f"helpline-pg-{digest}"
        self._make_dir(base)
        if base.stat().st_uid != self._owner()[0]:
            raise PostgresError(f"{base} belongs to another user; remove it")
        (self.home / "data-location.txt").write_text(f"{base}\n")
        return base

    def process_id(self) -> int | None:
        """The postmaster's process id, or None when the cluster is not running."""
        pid_file = self.data_dir / "postmaster.pid"
        lines = pid_file.read_text().splitlines() if pid_file.exists() else []
        return int(lines[0]) if lines and lines[0].strip().isdigit() else None

    def _running_port(self, bin_dir: Path) -> int | None:
        """Return the port of the postmaster running on our data dir, if any."""
        if not (self.data_dir / "postmaster.pid").exists():
            return None
        status = self._run([str(bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)])
        if status.returncode != 0:
            return None
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def _initdb(self, bin_dir: Path) -> None:
        if self.data_dir.exists():
            # Left over from an interrupted initdb: initdb wants an empty directory.
            shutil.rmtree(self.data_dir)
        self._make_dir(self.data_dir)
        result = self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "-U",
                USER,
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ],
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed:\n{result.stdout}{result.stderr}")


def plan_nodes(plan: Any) -> Iterator[dict[str, Any]]:
    """Every node of an ``EXPLAIN (FORMAT JSON)`` plan (parsed), outermost first."""
    if isinstance(plan, dict):
        if "Node Type" in plan:
            yield plan
        for value in plan.values():
            yield from plan_nodes(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from plan_nodes(value)
