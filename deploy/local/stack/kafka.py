"""Apache Kafka 4 in KRaft mode from Maven Central's jars, with SCRAM logins and the project's ACLs."""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import socket
import string
import struct
import uuid
from collections.abc import Sequence
from pathlib import Path

from .component import Component
from .host import (
    HOST,
    SCRIPT_DIR,
    Apt,
    StackError,
    env_int,
    file_size,
    find_program,
    read_from,
    recv_exact,
    run,
    step,
    write_private,
    write_secret,
)

KAFKA_FILES = SCRIPT_DIR / "kafka"

# Kafka clients authenticate with SCRAM; each has its own principal and only what it needs. The admin
# (a super user) runs the broker's own connections and the provisioning; `tests` is for tests and tools
# (the bench): every topic and group except the project's own. Names as in the services' defaults.
KAFKA_MECHANISM = "SCRAM-SHA-512"
KAFKA_ADMIN = "admin"
KAFKA_DEFAULT_PRINCIPAL = "tests"
KAFKA_PRINCIPALS = (KAFKA_ADMIN, "sales-writer", "mongo-projector", "auth", "gateway", KAFKA_DEFAULT_PRINCIPAL)
SALES_TOPIC = "sales.events"
DLQ_TOPIC = "sales.events.dlq"
ACCOUNT_EVENTS_TOPIC = "auth.account-events"
PROJECTOR_GROUP = "mongo-projector"
PROJECT_TOPICS = ("--topic", SALES_TOPIC, "--topic", DLQ_TOPIC)
# (principal, allow or deny, operations, resources) for AclCommand. Creating a topic grants no access
# to it: the relay and the projector may create the sales topics so that whichever starts first makes
# them with the contract's configuration (supply_common.kafka.project_topics); auth makes its own.
# The account events are read by manual assignment, without a consumer group, so no group is granted.
KAFKA_ACLS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("sales-writer", "allow", ("Write", "Describe"), ("--topic", SALES_TOPIC)),
    ("sales-writer", "allow", ("Create",), PROJECT_TOPICS),
    ("mongo-projector", "allow", ("Read", "Describe"), ("--topic", SALES_TOPIC, "--group", PROJECTOR_GROUP)),
    # Read: the replication panel lists the dead letters (by assignment, no group).
    ("mongo-projector", "allow", ("Write", "Describe", "Read"), ("--topic", DLQ_TOPIC)),
    ("mongo-projector", "allow", ("Create",), PROJECT_TOPICS),
    ("auth", "allow", ("Write", "Describe", "Create"), ("--topic", ACCOUNT_EVENTS_TOPIC)),
    *(
        (reader, "allow", ("Read", "Describe"), ("--topic", ACCOUNT_EVENTS_TOPIC))
        for reader in ("gateway", "sales-writer", "mongo-projector")
    ),
    (KAFKA_DEFAULT_PRINCIPAL, "allow", ("All",), ("--topic", "*", "--group", "*")),
    (
        KAFKA_DEFAULT_PRINCIPAL,
        "deny",
        ("All",),
        (*PROJECT_TOPICS, "--topic", ACCOUNT_EVENTS_TOPIC, "--group", PROJECTOR_GROUP),
    ),
)


def kafka_answers(port: int, timeout: float = 2.0) -> bool:
    """Whether a Kafka broker answers an ApiVersions (v0) request without error."""
    client_id = b"stack"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", recv_exact(sock, 4))
            correlation_id, error_code = struct.unpack(">ih", recv_exact(sock, size)[:6])
    except (OSError, struct.error):
        return False
    return bool(correlation_id == 1 and error_code == 0)


class Kafka(Component, name="kafka", default_port=9092, port_env="STACK_KAFKA_PORT", ready_timeout=120.0):
    """Single Kafka 4 node in KRaft mode (broker and controller in one JVM)."""

    def setup(self) -> None:
        self.controller_port = env_int("STACK_KAFKA_CONTROLLER_PORT", self.port + 1)
        self.libs = self.home / "libs"
        self.data = self.home / "data"
        self.properties = self.home / "server.properties"
        self.cluster_id_file = self.home / "cluster.id"
        self.server_log_dir = self.stack.log_dir / "kafka"
        self.server_log = self.server_log_dir / "server.log"
        self.pom = KAFKA_FILES / "pom.xml"
        self.log4j = KAFKA_FILES / "log4j2.properties"
        self.server_log_mark = 0
        self.admin_properties = self.home / "admin.properties"
        self.auth_stamp = self.home / "auth.stamp"
        self.acl_stamp = self.home / "acls.stamp"

    def password(self, principal: str) -> str:
        """A principal's SCRAM password, generated on first use."""
        return write_secret(self.stack.secrets_dir / f"kafka-{principal}", lambda: secrets.token_urlsafe(24))

    def credentials(self, principal: str) -> dict[str, str]:
        """Client settings (the services' env names) of one principal. A password made here before the
        broker's first start is the one its storage is formatted with."""
        if principal not in KAFKA_PRINCIPALS:
            raise StackError(f"{self.name}: no principal {principal!r}; known: {', '.join(KAFKA_PRINCIPALS)}")
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": KAFKA_MECHANISM,
            "KAFKA_USERNAME": principal,
            "KAFKA_PASSWORD": self.password(principal),
        }

    def auth_id(self) -> str:
        """Identifies the SCRAM credentials the storage was formatted with."""
        users = [(principal, self.password(principal)) for principal in KAFKA_PRINCIPALS]
        return hashlib.sha256(repr((KAFKA_MECHANISM, users)).encode()).hexdigest()

    def install(self) -> None:
        if find_program("java") is None:
            Apt.install(self.name, ["openjdk-17-jre-headless"], self.setup_log)
        marker = self.libs / ".complete"
        digest = hashlib.sha256(self.pom.read_bytes()).hexdigest()
        if marker.exists() and marker.read_text().strip() == digest:
            return
        if find_program("mvn") is None:
            Apt.install(self.name, ["maven"], self.setup_log)
        shutil.rmtree(self.libs, ignore_errors=True)
        with step(self.name, "fetching jars with maven"):
            run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "-f",
                    str(self.pom),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={self.libs}",
                    "-DincludeScope=runtime",
                ],
                self.setup_log,
            )
        marker.write_text(digest + "\n")

    def cluster_id(self) -> str:
        """Cluster id, generated once in Kafka's Uuid format."""
        if self.cluster_id_file.exists():
            return self.cluster_id_file.read_text().strip()
        while True:
            value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            if not value.startswith("-"):
                break
        self.cluster_id_file.write_text(value + "\n")
        return value

    def java(self, main: str, *args: str, heap: Sequence[str] = ()) -> list[str]:
        """A java command line running main with the Kafka jars."""
        return [
            find_program("java") or "java",
            *heap,
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.server_log_dir}",
            f"-Dlog4j2.configurationFile={self.log4j}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.server_log_dir.mkdir(parents=True, exist_ok=True)
        admin_password = self.password(KAFKA_ADMIN)
        template = string.Template((KAFKA_FILES / "server.properties.template").read_text())
        write_private(
            self.properties,
            template.substitute(
                host=HOST,
                port=self.port,
                controller_port=self.controller_port,
                data_dir=self.data,
                mechanism=KAFKA_MECHANISM,
                mechanism_lower=KAFKA_MECHANISM.lower(),
                admin=KAFKA_ADMIN,
                admin_password=admin_password,
            ),
        )
        write_private(
            self.admin_properties,
            "security.protocol=SASL_PLAINTEXT\n"
            f"sasl.mechanism={KAFKA_MECHANISM}\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="{KAFKA_ADMIN}" password="{admin_password}";\n',
        )
        auth_id = self.auth_id()
        formatted = (self.data / "meta.properties").exists()
        if formatted and self.auth_stamp.exists() and self.auth_stamp.read_text().strip() == auth_id:
            return
        if formatted:
            # A storage formatted before authentication (or with other credentials) cannot take the
            # SCRAM users afterwards without a running admin: start again from empty storage. Lost:
            # the topics' records and the consumer groups' offsets. `sales.events` is a changelog of
            # MySQL (the sales-writer's republish of all sales rebuilds it) and the projector's
            # version guard makes its re-reading harmless; the DLQ's records are gone.
            print(
                f"{self.name}: storage formatted without these SCRAM credentials; formatting it again. Lost: "
                "the topics' records and the consumer offsets; the sales-writer's republish of all sales "
                '(POST /internal/sales/republish {"all": true}) refills sales.events',
                flush=True,
            )
        shutil.rmtree(self.data, ignore_errors=True)
        self.acl_stamp.unlink(missing_ok=True)
        scram = [
            arg
            for principal in KAFKA_PRINCIPALS
            for arg in ("--add-scram", f"{KAFKA_MECHANISM}=[name={principal},password={self.password(principal)}]")
        ]
        with step(self.name, "formatting storage with the SCRAM credentials"):
            run(
                self.java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    self.cluster_id(),
                    "-c",
                    str(self.properties),
                    *scram,
                ),
                self.setup_log,
                log_command=False,
            )
        write_private(self.auth_stamp, auth_id + "\n")

    def acl_id(self) -> str:
        """Identifies the ACLs and the storage they were written to."""
        return hashlib.sha256(repr((KAFKA_ACLS, self.cluster_id(), self.auth_id())).encode()).hexdigest()

    def after_ready(self) -> None:
        acl_id = self.acl_id()
        if self.acl_stamp.exists() and self.acl_stamp.read_text().strip() == acl_id:
            return
        with step(self.name, "writing the ACLs"):
            for principal, permission, operations, resources in KAFKA_ACLS:
                run(
                    self.java(
                        "org.apache.kafka.tools.AclCommand",
                        "--bootstrap-server",
                        f"{HOST}:{self.port}",
                        "--command-config",
                        str(self.admin_properties),
                        "--add",
                        f"--{permission}-principal",
                        f"User:{principal}",
                        *(arg for operation in operations for arg in ("--operation", operation)),
                        *resources,
                        heap=("-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"),  # a quick start
                    ),
                    self.setup_log,
                )
        write_private(self.acl_stamp, acl_id + "\n")

    def command(self) -> list[str]:
        return self.java("kafka.Kafka", str(self.properties), heap=("-Xms256m", "-Xmx512m"))

    def outdated(self, pid: int) -> str | None:
        stamp = self.auth_stamp.read_text().strip() if self.auth_stamp.exists() else None
        if stamp != self.auth_id():
            return "its storage lacks these SCRAM credentials"
        return super().outdated(pid)

    def owns(self, argv: list[str]) -> bool:
        return "kafka.Kafka" in argv and f"{self.libs}/*" in argv

    def ports(self) -> list[int]:
        return [self.port, self.controller_port]

    def mark_logs(self) -> None:
        self.server_log_mark = file_size(self.server_log)

    def started(self) -> bool:
        return self.process is None or "Kafka Server started" in read_from(self.server_log, self.server_log_mark)

    def answers(self) -> bool:
        return kafka_answers(self.port)

    def server_logs(self) -> list[Path]:
        return [self.log_file, self.server_log]
