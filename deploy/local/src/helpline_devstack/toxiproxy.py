"""Toxiproxy (a TCP proxy that injects network faults) as a local server, driven over its HTTP API.

The server is built from its Go module by ``deploy/tools/build-toxiproxy.sh`` and cached.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Literal

import httpx

from helpline_devstack._proc import free_port, log_tail, port_open

HOST = "127.0.0.1"
BUILD_SCRIPT = Path(__file__).resolve().parents[3] / "tools" / "build-toxiproxy.sh"

Stream = Literal["upstream", "downstream"]


class ToxiproxyError(RuntimeError):
    """The Toxiproxy server could not be built, started or used."""


def build_server(timeout: float = 600) -> Path:
    """Build (once, then cached) the Toxiproxy server and return its path."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise ToxiproxyError(f"{BUILD_SCRIPT.name} failed:\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


class Proxy:
    """One proxy: ``listen`` port on 127.0.0.1 forwarding to ``upstream``."""

    def __init__(self, api: httpx.Client, name: str, listen: int, upstream: str) -> None:
        self._api = api
        self.name = name
        self.listen = listen
        self.upstream = upstream

    @property
    def address(self) -> str:
        """Where clients connect: ``127.0.0.1:<listen>``."""
        return f"{HOST}:{self.listen}"

    def add_toxic(
        self, kind: str, stream: Stream = "downstream", toxicity: float = 1.0, **attributes: int
    ) -> str:
        """Add a toxic (``latency``, ``timeout``, ``slow_close``, ``reset_peer``...); its name."""
        name = f"{kind}_{stream}"
        self._call(
            "POST",
            f"/proxies/{self.name}/toxics",
            json={
                "name": name,
                "type": kind,
                "stream": stream,
                "toxicity": toxicity,
                "attributes": attributes,
            },
        )
        return name

    def remove_toxic(self, name: str) -> None:
        """Remove one toxic."""
        self._call("DELETE", f"/proxies/{self.name}/toxics/{name}")

    def remove_all_toxics(self) -> None:
        """Remove every toxic of this proxy."""
        for toxic in self._call("GET", f"/proxies/{self.name}/toxics").json():
            self.remove_toxic(toxic["name"])

    def disable(self) -> None:
        """Cut the link: close every connection and refuse new ones."""
        self._set_enabled(False)

    def enable(self) -> None:
        """Accept connections again."""
        self._set_enabled(True)

    def _set_enabled(self, enabled: bool) -> None:
        self._call("POST", f"/proxies/{self.name}", json={"enabled": enabled})

    def _call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return _checked(self._api.request(method, path, json=json))


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        raise ToxiproxyError(
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text[:500]}"
        )
    return response


class Toxiproxy:
    """A Toxiproxy server process on 127.0.0.1 and a free port, logging into ``home``."""

    def __init__(self, home: Path, binary: Path | None = None, port: int | None = None) -> None:
        self.home = Path(home)
        self.binary = binary
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._api = httpx.Client(base_url=f"http://{HOST}:{self.port}", timeout=10)

    @property
    def log_file(self) -> Path:
        """The server's output."""
        return self.home / "toxiproxy.log"

    def start(self, timeout: float = 30) -> None:
        """Start the server (building it first if needed) and wait until its API answers."""
        binary = self.binary or build_server()
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [str(binary), "-host", HOST, "-port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its default level traces every chunk of every connection.
                env={**os.environ, "LOG_LEVEL": "info"},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not port_open(HOST, self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ToxiproxyError(f"toxiproxy did not start:\n{log_tail(self.log_file)}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server; its proxies close with it."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        self._api.close()

    def __enter__(self) -> Toxiproxy:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def proxy(self, name: str, upstream: str, listen: int | None = None) -> Proxy:
        """Create proxy ``name`` from 127.0.0.1:``listen`` (free port if None) to ``upstream``."""
        port = listen or free_port()
        _checked(
            self._api.post(
                "/proxies",
                json={
                    "name": name,
                    "listen": f"{HOST}:{port}",
                    "upstream": upstream,
                    "enabled": True,
                },
            )
        )
        return Proxy(self._api, name, port, upstream)
