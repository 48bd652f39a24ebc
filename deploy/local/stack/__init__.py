"""Run the Supply Store backing services on this machine without Docker.

MariaDB (Debian package), Apache Kafka in KRaft mode (jars from Maven Central) and FerretDB v1
(built from its Go module), each installed on first use and kept under <repo>/.stack.

    stack up|down|status [--only mariadb,kafka,ferretdb]
    stack start|stop|kill NAME
    stack env [--principal NAME]
    stack ferretdb-source DIR

Ports: STACK_MYSQL_PORT, STACK_KAFKA_PORT (controller: STACK_KAFKA_CONTROLLER_PORT), STACK_MONGO_PORT,
STACK_PG_PORT. State folder: STACK_DIR. FerretDB backend: STACK_FERRETDB_BACKEND=sqlite|pg; its Go
collector's GOGC: STACK_FERRETDB_GOGC (default 400). STACK_TRACING=1 adds Jaeger (built from its Go
module; UI STACK_JAEGER_PORT, OTLP/HTTP STACK_JAEGER_OTLP_PORT).
`status` exits 3 unless every component shown is running and answering.

Kafka clients log in with SASL/SCRAM and may do only what their ACLs allow; FerretDB clients log in
with SCRAM. The passwords are generated into <state folder>/secrets; `env` prints the Kafka credentials
of one principal (`--principal`, default `tests`: the one for tests and tools). Everything in the
state folder is readable by its owner only.
"""

from .cli import main
from .component import Component
from .ferretdb import FerretDB
from .host import StackError
from .jaeger import Jaeger
from .kafka import KAFKA_ACLS, KAFKA_PRINCIPALS, Kafka
from .mariadb import MariaDB
from .postgres import Postgres
from .prometheus import Prometheus
from .stack import COMPONENTS, Stack

__all__ = [
    "COMPONENTS",
    "KAFKA_ACLS",
    "KAFKA_PRINCIPALS",
    "Component",
    "FerretDB",
    "Jaeger",
    "Kafka",
    "MariaDB",
    "Postgres",
    "Prometheus",
    "Stack",
    "StackError",
    "main",
]
