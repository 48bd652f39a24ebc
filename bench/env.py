"""Where the stack is, how to reach it, and the facts about the machine recorded with every result."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import pymysql
from pymongo import MongoClient
from sqlalchemy.engine import make_url

from supply_common.testing.stack import repo_root, stack_env


@dataclass(frozen=True)
class Stack:
    mysql_url: str
    kafka: str
    mongo_url: str

    @classmethod
    def from_environment(cls) -> Stack:
        names = ("MYSQL_URL", "KAFKA_BOOTSTRAP_SERVERS", "MONGO_URL")
        values = {name: os.environ.get(name, "") for name in names}
        if not all(values.values()):
            values = {**stack_env(), **{name: value for name, value in values.items() if value}}
        return cls(values["MYSQL_URL"], values["KAFKA_BOOTSTRAP_SERVERS"], values["MONGO_URL"])

    def env(self) -> dict[str, str]:
        return {"MYSQL_URL": self.mysql_url, "KAFKA_BOOTSTRAP_SERVERS": self.kafka, "MONGO_URL": self.mongo_url}

    def mysql(self, database: str | None = None, **options: Any) -> pymysql.connections.Connection:
        url = make_url(self.mysql_url)
        return pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username,
            password=url.password or "",
            database=database,
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=5,
            **options,
        )

    def mongo(self, **options: Any) -> MongoClient[dict[str, Any]]:
        options = {"serverSelectionTimeoutMS": 5000, "socketTimeoutMS": 60_000, "tz_aware": True, **options}
        return MongoClient(self.mongo_url, **options)


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _kafka_version(root: Path) -> str:
    for folder in (root / ".stack" / "kafka" / "libs", root / ".stack" / "kafka"):
        if folder.is_dir():
            for jar in sorted(folder.glob("kafka_*.jar")):
                match = re.match(r"kafka_[\d.]+-([\d.]+)\.jar", jar.name)
                if match:
                    return match.group(1)
    return "unknown"


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


def machine_facts(stack: Stack) -> dict[str, Any]:
    """Cores, memory, server and library versions: what a number means depends on them."""
    root = repo_root()
    facts: dict[str, Any] = {
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "java": _first_line(["java", "-version"]),
        "kafka": _kafka_version(root),
        "git_commit": _first_line(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]),
        "libraries": {
            name: _package(name)
            for name in ("aiokafka", "pymongo", "PyMySQL", "SQLAlchemy", "fastapi", "uvicorn", "aiohttp", "argon2-cffi")
        },
    }
    try:
        with stack.mysql() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            facts["mariadb"] = cursor.fetchone()[0]
    except pymysql.MySQLError as exc:
        facts["mariadb"] = f"unreachable: {exc}"
    try:
        with stack.mongo() as client:
            info = client.admin.command("buildInfo")
            facts["ferretdb"] = info.get("ferretdbVersion") or f"MongoDB {info.get('version')}"
            facts["mongo_wire_version"] = info.get("version")
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        facts["ferretdb"] = f"unreachable: {exc}"
    return facts
