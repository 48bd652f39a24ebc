"""Write `.env.example` from the services' settings classes, or check it is current (`--check`).

The settings classes are the single source of truth for the environment variables; this keeps
the documented list from drifting away from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from supply_auth.config import AuthSettings
from supply_gateway.config import GatewaySettings
from supply_projector.config import ProjectorSettings
from supply_sales_writer.config import SalesWriterSettings

TARGET = Path(__file__).resolve().parents[1] / ".env.example"
SERVICES: list[tuple[str, type[BaseSettings]]] = [
    ("auth", AuthSettings),
    ("sales-writer", SalesWriterSettings),
    ("mongo-projector", ProjectorSettings),
    ("gateway", GatewaySettings),
]
HEADER = """\
# Environment variables of the Supply Store services, generated from their settings classes by
# `uv run python deploy/env_example.py` (checked by `make lint`). Values shown are the defaults.
# `make run` and `make test` take the server URLs from `deploy/local/stack env`.
# Secrets have no real value here: set them in the environment or an untracked .env file.
"""
COMPOSE = """\
# --- docker compose only: database passwords (never commit real values)
MYSQL_PASSWORD=
MYSQL_ROOT_PASSWORD=
# MongoDB: its root, and one user per projector process (the consumer writes, the read API only reads)
MONGO_ROOT_PASSWORD=
MONGO_PROJECTOR_PASSWORD=
MONGO_READ_API_PASSWORD=
# Kafka (SASL/SCRAM): the admin, and the principals of the sales-writer, the projector, auth and the
# gateway
KAFKA_ADMIN_PASSWORD=
KAFKA_SALES_WRITER_PASSWORD=
KAFKA_PROJECTOR_PASSWORD=
KAFKA_AUTH_PASSWORD=
KAFKA_GATEWAY_PASSWORD=
# Host port (or address:port) the gateway is published on; with Prometheus (profile monitoring)
# the only port compose publishes.
GATEWAY_PORT=8000
"""
HIDDEN = {"required_in_production"}


def _value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value().replace("supply@", "supply:CHANGE-ME@")
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ",".join(f'"{item}"' for item in value) + "]"
    return str(value)


def render() -> str:
    seen: dict[str, str] = {}
    parts = [HEADER]
    for service, settings_class in SERVICES:
        lines = []
        for name, field in settings_class.model_fields.items():
            if name in HIDDEN:
                continue
            default = _value(field.get_default(call_default_factory=True))
            if name in seen:
                if seen[name] != default:
                    lines.append(f"# {name.upper()}={default} (this service's default)")
                continue
            seen[name] = default
            if field.description:
                lines.append(f"# {field.description}")
            lines.append(f"{name.upper()}={default}")
        title = f"{service} (and shared)" if service == "auth" else service
        parts.append(f"\n# --- {title}\n" + "\n".join(lines) + "\n")
    parts.append("\n" + COMPOSE)
    return "".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(".env.example is out of date: run `uv run python deploy/env_example.py`", file=sys.stderr)
            return 1
        print(".env.example matches the settings classes")
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
