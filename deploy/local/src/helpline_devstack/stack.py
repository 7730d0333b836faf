"""The whole of Helpline on one machine: broker, mail sink and the five services as processes.

Used by ``make run`` (``python -m helpline_devstack run``) and by the end-to-end tests, so both
start Helpline the same way.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from helpline_devstack._proc import log_tail

SERVICE_PORTS: Mapping[str, int] = {
    "intake": 8080,
    "routing": 8081,
    "escalation": 8082,
    "notify": 8083,
}


class ServiceDidNotStart(RuntimeError):
    """A service process exited or never became ready."""


@dataclass
class ServiceProcess:
    """One running service."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """Starts and stops Helpline's services as separate OS processes."""

    home: Path
    kafka_bootstrap_servers: str
    ports: Mapping[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    environment: dict[str, str] = field(default_factory=dict)
    database_urls: Mapping[str, str] = field(default_factory=dict)
    service_environment: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Variables of one service only, by service (e.g. escalation's own key), at every start."""
    running: dict[str, ServiceProcess] = field(default_factory=dict)

    def start(
        self, name: str, extra_environment: Mapping[str, str] | None = None, timeout: float = 90
    ) -> ServiceProcess:
        """Start service ``name`` and wait until its ``/readyz`` answers 200."""
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        environment = {
            **os.environ,
            "HELPLINE_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "HELPLINE_DATA_DIR": str(self.home / "data"),
            "HELPLINE_HTTP_PORT": str(self.ports[name]),
            "PYTHONUNBUFFERED": "1",
            **self.environment,
            **self.service_environment.get(name, {}),
            **(extra_environment or {}),
        }
        if name in self.database_urls:
            environment["HELPLINE_DATABASE_URL"] = self.database_urls[name]
        log_file = logs / f"{name}.log"
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"helpline_{name}", "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
        service = ServiceProcess(name, self.ports[name], process, log_file)
        self.running[name] = service
        self._wait_ready(service, timeout)
        return service

    def _wait_ready(self, service: ServiceProcess, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise ServiceDidNotStart(
                    f"{service.name} exited with {service.process.returncode}:\n"
                    + log_tail(service.log_file)
                )
            try:
                with urllib.request.urlopen(service.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ServiceDidNotStart(
            f"{service.name} not ready after {timeout}s:\n" + log_tail(service.log_file)
        )

    def stop(self, name: str, timeout: float = 30) -> int | None:
        """Stop ``name`` with SIGTERM (SIGKILL after ``timeout``); return its exit code."""
        service = self.running.pop(name, None)
        if service is None:
            return None
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
            try:
                service.process.wait(timeout)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        return service.process.returncode

    def kill(self, name: str) -> None:
        """Kill ``name`` with SIGKILL, as a crash would."""
        service = self.running.pop(name, None)
        if service is not None and service.process.poll() is None:
            service.process.kill()
            service.process.wait()

    def stop_all(self) -> None:
        """Stop every running service, last started first."""
        for name in reversed(list(self.running)):
            self.stop(name)
