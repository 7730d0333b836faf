"""A single-node KRaft Kafka broker run from the Maven jars named in deploy/local/pom.xml."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError as ClientError
from aiokafka.errors import TopicAlreadyExistsError, for_code

from helpline_cli.kafka_access import KafkaAccess
from helpline_devstack._proc import (
    cmdline,
    file_lock,
    log_tail,
    pid_alive,
    port_open,
    read_pid,
    run_sync,
)
from helpline_devstack.certificates import ensure_broker_tls
from helpline_shared.kafka_acls import (
    READER_ACCESS,
    SERVICE_ACCESS,
    reader_acls,
    service_acls,
    service_user,
)
from helpline_shared.kafka_security import PLAINTEXT, KafkaSecurity, aiokafka_options

POM = Path(__file__).resolve().parents[2] / "pom.xml"
HOST = "127.0.0.1"
MAVEN_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
ADMIN_USER = "admin"
"""The broker's own principal and the only super user of a secure broker."""

BrokerSecurity = Literal["plaintext", "sasl_ssl"]

TUNING = {
    # Saves ~3 s per consumer group join in tests.
    "group.initial.rebalance.delay.ms": "0",
    # A handful of local clients on a small machine: the defaults (3 network, 8 I/O,
    # 10 background threads) are sized for a server, and each idle thread still wakes up.
    "num.network.threads": "1",
    "num.io.threads": "2",
    "background.threads": "2",
}
"""The broker's settings for speed on this machine (none changes what a client is promised).

Tried in issue 14's seventh round (the raw baseline at 200/s, broker CPU per ticket, several
runs on a loaded machine) and left out, no better than the noise: one I/O thread, C1-only JIT
(``-XX:TieredStopAtLevel=1``), one group coordinator thread with one ``__consumer_offsets``
partition."""

JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx512m",
    # The serial collector: the least CPU for a small heap on a machine of a few cores (G1's
    # concurrent and parallel threads compete with the services).
    "-XX:+UseSerialGC",
)
"""How the broker's JVM runs."""


class KafkaError(RuntimeError):
    """The local Kafka broker could not be fetched, started or used."""


def kafka_version(pom: Path = POM) -> str:
    """Return the Kafka version pinned in the pom's ``kafka.version`` property."""
    if not pom.is_file():
        raise KafkaError(f"{pom} not found: install with `pip install -e deploy/local`")
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", MAVEN_NS)
    if node is None or not node.text:
        raise KafkaError(f"{pom} has no <kafka.version> property")
    return node.text.strip()


def cache_root() -> Path:
    """Return the jar cache root: ``$HELPLINE_CACHE`` or ``~/.cache/helpline``."""
    env = os.environ.get("HELPLINE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "helpline"


def _random_cluster_id() -> str:
    # Same shape as Kafka's Uuid.randomUuid().toString(): url-safe base64, no padding,
    # never starting with "-" (the CLI would read it as an option).
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class KafkaNode:
    """One KRaft broker+controller process whose state lives in ``home``."""

    def __init__(
        self,
        home: Path,
        port: int = 9092,
        controller_port: int = 9093,
        proxied: tuple[int, int] | None = None,
        security: BrokerSecurity = "plaintext",
    ) -> None:
        # proxied: (listen port, advertised port) of a second client listener reached through a
        # proxy (Toxiproxy in tests), so that clients bootstrapped there stay behind the proxy.
        self.home = Path(home).resolve()
        self.port = port
        self.controller_port = controller_port
        self.proxied = proxied
        # sasl_ssl: one SASL_SSL (SCRAM-SHA-512) client listener, ACLs enforced, "admin" the
        # only super user; the controller listener takes only the admin too (SASL PLAIN).
        self.security = security
        if security != "plaintext" and proxied is not None:
            raise KafkaError("a secure broker has no plaintext listener for a proxy")
        self.version = kafka_version()
        self.libs_dir = cache_root() / f"kafka-{self.version}" / "libs"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """Return the client bootstrap address, e.g. ``127.0.0.1:9092``."""
        return f"{HOST}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The PEM file of the CA that signed a secure broker's certificate."""
        return self.home / "ca.pem"

    @property
    def admin_security(self) -> KafkaSecurity:
        """How the super user connects (plaintext, anonymous, on a plaintext broker)."""
        if self.security == "plaintext":
            return PLAINTEXT
        return self.client_security(ADMIN_USER, self._admin_password())

    def client_security(self, username: str, password: str) -> KafkaSecurity:
        """How user ``username`` connects to this secure broker."""
        return KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", username, password, self.ca_file)

    def access(self) -> KafkaAccess:
        """Users and ACLs of this broker, changed as the super user."""
        return KafkaAccess(self.bootstrap_servers, self.admin_security)

    def provision_services(self, topic_prefix: str = "") -> dict[str, KafkaSecurity]:
        """Give each service (and each reader: the workspace) a user with a fresh password and
        its ACLs; return how each connects (every one connects as the super user of a plaintext
        broker)."""
        if self.security == "plaintext":
            return dict.fromkeys([*SERVICE_ACCESS, *READER_ACCESS], PLAINTEXT)
        access = self.access()
        found = {}
        grants = {
            **{service: service_acls(service, topic_prefix) for service in SERVICE_ACCESS},
            **{reader: reader_acls(reader, topic_prefix) for reader in READER_ACCESS},
        }
        for name, acls in grants.items():
            user, password = service_user(name), secrets.token_urlsafe(24)
            access.set_password(user, password)
            access.grant(user, acls)
            found[name] = self.client_security(user, password)
        return found

    def _admin_password(self) -> str:
        path = self.home / "admin-password"
        if not path.is_file():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def log_file(self) -> Path:
        """Return the broker's stdout/stderr log file."""
        return self.home / "kafka.log"

    @property
    def _pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def _properties(self) -> Path:
        return self.home / "server.properties"

    @property
    def _data_dir(self) -> Path:
        return self.home / "data"

    # -- jars -----------------------------------------------------------------

    def ensure_jars(self) -> Path:
        """Fetch the broker's jars with Maven once into the cache; return the libs dir."""
        marker = self.libs_dir.parent / "complete"
        stamp = hashlib.sha256(POM.read_bytes()).hexdigest()
        if marker.is_file() and marker.read_text().strip() == stamp:
            return self.libs_dir
        with file_lock(self.libs_dir.parent / "fetch.lock"):
            if marker.is_file() and marker.read_text().strip() == stamp:
                return self.libs_dir
            mvn = shutil.which("mvn")
            if mvn is None:
                raise KafkaError("Maven (mvn) is not on PATH: apt-get install maven")
            partial = self.libs_dir.with_name("libs.partial")
            shutil.rmtree(partial, ignore_errors=True)
            result = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(POM),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={partial}",
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                output = (result.stdout + result.stderr).splitlines()[-40:]
                raise KafkaError("mvn dependency:copy-dependencies failed:\n" + "\n".join(output))
            shutil.rmtree(self.libs_dir, ignore_errors=True)
            partial.rename(self.libs_dir)
            marker.write_text(stamp + "\n")
        return self.libs_dir

    # -- lifecycle ------------------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        """Start the broker unless one already answers; return once it serves metadata."""
        deadline = time.monotonic() + timeout
        if self.is_running():
            return
        self.home.mkdir(parents=True, exist_ok=True)
        with file_lock(self.home / "start.lock"):
            if self.is_running():
                return
            pid = self._own_pid()
            if pid is not None:
                # A broker from an earlier, interrupted start: give it the chance to finish,
                # unless it runs in the other security mode (it would never answer us).
                if self._formatted_security() == self.security and self._wait_ready(deadline, pid):
                    return
                self._terminate(pid, 10)
            if port_open(HOST, self.port):
                raise KafkaError(f"port {self.port} is in use but no Kafka broker answers there")
            libs = self.ensure_jars()
            self._write_properties()
            self._format(libs)
            pid = self._launch(libs)
            # The timeout covers the broker's own startup, not a first jar download.
            if not self._wait_ready(time.monotonic() + timeout, pid):
                problem = (
                    f"not ready after {timeout:.0f}s" if pid_alive(pid) else "exited during startup"
                )
                self._terminate(pid, 10)
                raise KafkaError(
                    f"Kafka on {self.bootstrap_servers} {problem}; "
                    f"last lines of {self.log_file}:\n{log_tail(self.log_file)}"
                )

    def stop(self, timeout: float = 30) -> None:
        """Stop the broker started from this home (SIGTERM, then SIGKILL); no-op if none."""
        if not self._pid_file.exists():
            return
        with file_lock(self.home / "start.lock"):
            pid = self._own_pid()
            if pid is not None:
                self._terminate(pid, timeout)
            self._pid_file.unlink(missing_ok=True)

    def is_running(self) -> bool:
        """Tell whether a broker answers metadata requests on the bootstrap address."""
        return port_open(HOST, self.port) and run_sync(lambda: self._probe(5.0))

    def process_id(self) -> int | None:
        """The broker's process id, or None when no broker of this home runs."""
        return self._own_pid()

    def group_generations(self, group: str) -> list[int]:
        """The generations the broker stabilized consumer group ``group`` at, read from its log."""
        pattern = re.compile(rf"Stabilized group {re.escape(group)} generation (\d+) ")
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return []
        return [int(found) for found in pattern.findall(text)]

    def create_topics(
        self, names: Iterable[str], partitions: int, configs: dict[str, str] | None = None
    ) -> None:
        """Create topics with replication factor 1 (and topic ``configs``, e.g.
        ``{"message.timestamp.type": "LogAppendTime"}``); existing topics are left as they are."""
        wanted = sorted(set(names))
        if wanted:
            run_sync(lambda: self._create_topics(wanted, partitions, configs or {}))

    # -- internals ------------------------------------------------------------

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if java is None or not Path(java).exists():
            raise KafkaError("java (17+) is not on PATH: apt-get install openjdk-17-jre-headless")
        return java

    def _own_pid(self) -> int | None:
        """Return the pid from the pid file if it is our live broker; drop a stale file."""
        pid = read_pid(self._pid_file)
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return None
        argv = cmdline(pid)
        if pid_alive(pid) and "kafka.Kafka" in argv and str(self._properties) in argv:
            return pid
        self._pid_file.unlink(missing_ok=True)
        return None

    def _write_properties(self) -> None:
        client = "PLAINTEXT" if self.security == "plaintext" else "SASL_SSL"
        listeners = f"{client}://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}"
        advertised = listeners
        protocols = f"CONTROLLER:PLAINTEXT,{client}:{client}"
        if self.proxied is not None:
            # Metadata asked for on this listener names the proxy, not the broker.
            listen, advertise = self.proxied
            listeners += f",PROXIED://{HOST}:{listen}"
            advertised += f",PROXIED://{HOST}:{advertise}"
            protocols += ",PROXIED:PLAINTEXT"
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{HOST}:{self.controller_port}",
            "listeners": listeners,
            "advertised.listeners": advertised,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": client,
            "listener.security.protocol.map": protocols,
            "log.dirs": str(self._data_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            # One node: every internal topic must live with a single replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            **TUNING,
        }
        if self.security == "sasl_ssl":
            settings["listener.security.protocol.map"] = protocols.replace(
                "CONTROLLER:PLAINTEXT", "CONTROLLER:SASL_PLAINTEXT"
            )
            settings.update(self._secure_settings())
        text = "".join(f"{key}={value}\n" for key, value in settings.items())
        self._properties.write_text(text)

    def _secure_settings(self) -> dict[str, str]:
        tls = ensure_broker_tls(self.home)
        password = self._admin_password()
        scram = (
            f"org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN_USER}" password="{password}";'
        )
        plain = (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{ADMIN_USER}" password="{password}" '
            f'user_{ADMIN_USER}="{password}";'
        )
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls.keystore_file),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls.ca_file),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN_USER}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _formatted_security(self) -> str:
        state_file = self.home / "cluster.json"
        if not state_file.is_file():
            return "plaintext"
        return str(json.loads(state_file.read_text()).get("security", "plaintext"))

    def _format(self, libs: Path) -> None:
        """Format the log dir once; reformat if the controller port (in the voter set) moved."""
        state_file = self.home / "cluster.json"
        state: dict[str, Any] = {}
        if state_file.is_file():
            state = json.loads(state_file.read_text())
        formatted = (self._data_dir / "meta.properties").is_file()
        if (
            formatted
            and state.get("controller_port") == self.controller_port
            and state.get("security", "plaintext") == self.security
        ):
            return
        if formatted:
            shutil.rmtree(self._data_dir)
        cluster_id = str(state.get("cluster_id") or _random_cluster_id())
        result = subprocess.run(
            [
                self._java(),
                "-cp",
                f"{libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(self._properties),
                "--ignore-formatted",
                *self._format_scram(),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise KafkaError(f"kafka StorageTool format failed:\n{result.stdout}{result.stderr}")
        state = {
            "cluster_id": cluster_id,
            "controller_port": self.controller_port,
            "security": self.security,
        }
        state_file.write_text(json.dumps(state) + "\n")

    def _format_scram(self) -> list[str]:
        # The admin's SCRAM credential must exist before the broker's first start: the broker
        # itself logs in with it on its SASL_SSL listener.
        if self.security == "plaintext":
            return []
        return [
            "--add-scram",
            f"SCRAM-SHA-512=[name={ADMIN_USER},password={self._admin_password()}]",
        ]

    def _launch(self, libs: Path) -> int:
        with open(self.log_file, "wb") as log:
            self._proc = subprocess.Popen(
                [
                    self._java(),
                    *JVM_OPTIONS,
                    "-Dorg.slf4j.simpleLogger.showDateTime=true",
                    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS",
                    "-cp",
                    f"{libs}/*",
                    "kafka.Kafka",
                    str(self._properties),
                ],
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._pid_file.write_text(f"{self._proc.pid}\n")
        return self._proc.pid

    def _wait_ready(self, deadline: float, pid: int) -> bool:
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return False
            if port_open(HOST, self.port) and run_sync(lambda: self._probe(5.0)):
                return True
            time.sleep(0.2)
        return False

    def _terminate(self, pid: int, timeout: float) -> None:
        self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            self._signal(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.05)
        if self._proc is not None and self._proc.pid == pid:
            self._proc.wait()
            self._proc = None
        self._pid_file.unlink(missing_ok=True)

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        # The broker leads its own process group (start_new_session).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)

    def _admin(self, request_timeout_ms: int = 10_000) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            request_timeout_ms=request_timeout_ms,
            **aiokafka_options(self.admin_security),
        )

    async def _probe(self, timeout: float) -> bool:
        admin = self._admin(int(timeout * 1000))
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            return bool(cluster.get("brokers"))
        except (ClientError, OSError, TimeoutError):
            return False
        finally:
            await admin.close()

    async def _create_topics(
        self, names: list[str], partitions: int, configs: dict[str, str]
    ) -> None:
        admin = self._admin()
        try:
            await admin.start()
            response = await admin.create_topics(
                [
                    NewTopic(
                        name, num_partitions=partitions, replication_factor=1, topic_configs=configs
                    )
                    for name in names
                ]
            )
            for result in response.to_object()["topic_errors"]:
                error = for_code(result["error_code"])
                if result["error_code"] and error is not TopicAlreadyExistsError:
                    raise KafkaError(f"cannot create topic {result['topic']!r}: {error.__name__}")
            await self._wait_for_leaders(admin, names)
        finally:
            await admin.close()

    @staticmethod
    async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> None:
        # Creation is asynchronous in the controller; return only once clients can use them.
        for _ in range(100):
            topics = await admin.describe_topics(names)
            if all(
                topic["error_code"] == 0
                and topic["partitions"]
                and all(p["leader"] >= 0 for p in topic["partitions"])
                for topic in topics
            ):
                return
            await asyncio.sleep(0.1)
        raise KafkaError(f"topics {names} have no leader after 10 s")
