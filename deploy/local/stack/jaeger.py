"""Jaeger v2 built from its Go module: the traces of a local run (STACK_TRACING=1)."""

from __future__ import annotations

import os

from .component import Component
from .host import HOST, env_int, find_go, go_build, go_built, go_module_source, http_ok, step

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_VERSION = "v1.75.0"  # the approved release: the module proxy serves v1.76.0 too, not approved
"""The module's v1.x tags carry the v2 binary (`cmd/jaeger`)."""


class Jaeger(Component, name="jaeger", default_port=16686, port_env="STACK_JAEGER_PORT"):
    """Jaeger v2 (`cmd/jaeger`, the all-in-one: OTLP in, traces kept in memory, UI and query API),
    built with Go from the module proxy like FerretDB. Its UI and API answer on STACK_JAEGER_PORT
    (default 16686), OTLP/HTTP on STACK_JAEGER_OTLP_PORT (default 4318), both on loopback only. The
    Go module carries no built UI, so the UI page is Jaeger's placeholder and traces are read from its
    query API (`/api/services`, `/api/traces?service=...`, `/api/traces/{trace id}`). Its own tracing
    is off (it would export to an OTLP endpoint of its own that nothing serves).

    Not started by default: `make run TRACING=1` (STACK_TRACING=1) adds it, and `deploy/local/run`
    then points every service's exporter at it (OTEL_EXPORTER_OTLP_ENDPOINT) and the gateway's
    journey links at its UI (TRACE_UI_URL)."""

    def setup(self) -> None:
        self.binary = self.home / "bin" / "jaeger"
        self.config = self.home / "config.yaml"
        self.otlp_port = env_int("STACK_JAEGER_OTLP_PORT", 4318)
        self.grpc_port = env_int("STACK_JAEGER_GRPC_PORT", 16685)

    def install(self) -> None:
        if go_built(self.binary, JAEGER_VERSION):
            return
        go = find_go(self.name, "to build Jaeger")
        build = self.home / "build"
        with step(self.name, f"building {JAEGER_VERSION} with go (long: its module pulls in every storage client)"):
            # Built inside its own module, whose replace directives `go install ...@version` refuses.
            go_module_source(go, JAEGER_MODULE, JAEGER_VERSION, build, self.name)
            go_build(go, build, "./cmd/jaeger", self.binary, JAEGER_VERSION, self.setup_log)

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.config.write_text(JAEGER_CONFIG.format(host=HOST, ui=self.port, otlp=self.otlp_port, grpc=self.grpc_port))

    def command(self) -> list[str]:
        return [str(self.binary), f"--config={self.config}"]

    def owns(self, argv: list[str]) -> bool:
        return argv[0] == str(self.binary)

    def ports(self) -> list[int]:
        return [self.port, self.otlp_port, self.grpc_port]

    def answers(self) -> bool:
        return http_ok(f"{self.url()}/api/services")

    def url(self) -> str:
        """Address of its UI and query API."""
        return f"http://{HOST}:{self.port}"

    def otlp_endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT takes (the exporters add /v1/traces)."""
        return f"http://{HOST}:{self.otlp_port}"


JAEGER_CONFIG = """\
# Written by deploy/local/stack: Jaeger v2 all-in-one, traces in memory, loopback only.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memory_store
    http:
      endpoint: {host}:{ui}
    grpc:
      endpoint: {host}:{grpc}
  jaeger_storage:
    backends:
      memory_store:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      http:
        endpoint: {host}:{otlp}
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memory_store
"""


def tracing_requested() -> bool:
    """Whether the stack runs Jaeger too (`make run TRACING=1`)."""
    return os.environ.get("STACK_TRACING", "").strip() in {"1", "true", "yes"}
