"""The Prometheus of the local stack and of compose (deploy/prometheus): its alert rules and their
unit tests pass promtool, every metric a rule reads is one a process exports, and the scrape configs
reach every process of a local run and every service of docker-compose.yml."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY

from supply_common.processes import PROCESSES, Process
from supply_common.testing.deployment import Deployment, free_port, running
from supply_common.testing.fixtures import Servers
from supply_common.testing.sales import sale_body
from supply_projector.config import ProjectorSettings
from supply_sales_writer.config import SalesWriterSettings

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_FILES = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_FILES / "rules.yml"
RULE_TESTS = PROMETHEUS_FILES / "rules.test.yml"
SCRAPE_CONFIGS = (PROMETHEUS_FILES / "local.yml", PROMETHEUS_FILES / "compose.yml")
METRICS_PORT_SETTINGS = {
    "sales-writer-relay": ("RELAY_METRICS_PORT", SalesWriterSettings.model_fields["relay_metrics_port"].default),
    "mongo-projector-consume": ("METRICS_PORT", ProjectorSettings.model_fields["metrics_port"].default),
}
"""The processes that serve no HTTP: the setting that names their metrics port, and its default."""


def load(path: Path) -> Any:
    with open(path) as f:
        return yaml.safe_load(f)


def promtool_run(promtool: str, *args: str) -> str:
    result = subprocess.run([promtool, *args], cwd=PROMETHEUS_FILES, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rules() -> list[dict[str, Any]]:
    """Every rule of rules.yml, recording and alerting."""
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def alerts() -> set[str]:
    return {rule["alert"] for rule in rules() if "alert" in rule}


def metrics_read_by_rules() -> set[str]:
    """Names of the scraped metrics the rules' expressions read (not the recording rules' own)."""
    records = {rule["record"] for rule in rules() if "record" in rule}
    read: set[str] = set()
    for rule in rules():
        # Label matchers, groupings and quoted strings name labels and values, not metrics.
        names_only = re.sub(r'"[^"]*"|\{[^}]*\}|\b(?:by|without|on|ignoring)\s*\([^)]*\)', "", rule["expr"])
        read |= {name for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", names_only) if "_" in name}
    return read - records


def test_the_rules_and_both_scrape_configs_pass_promtool_check(promtool: str) -> None:
    promtool_run(promtool, "check", "rules", RULES.name)
    for config in SCRAPE_CONFIGS:
        output = promtool_run(promtool, "check", "config", config.name)
        assert f"{RULES.name}" in output, f"{config.name} does not load the rules"


def test_every_alert_fires_and_stays_quiet_in_the_rule_unit_tests(promtool: str) -> None:
    promtool_run(promtool, "test", "rules", RULE_TESTS.name)
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    assert fired == alerts(), "alerts without a case where they fire"
    assert quiet == alerts(), "alerts without a case where they stay quiet"


def test_every_metric_the_rules_read_is_exported_by_a_process() -> None:
    import supply_common.web  # noqa: F401 - http_requests_total, in every HTTP service
    import supply_gateway.metrics  # noqa: F401
    import supply_projector.metrics  # noqa: F401
    import supply_sales_writer.service_layer.relay  # noqa: F401

    exported = {"up"}
    for family in REGISTRY.collect():
        exported |= {family.name, f"{family.name}_total"} if family.type == "counter" else {family.name}
    assert metrics_read_by_rules() - exported == set()


def test_the_local_scrape_targets_are_the_ports_of_a_local_run() -> None:
    expected: dict[str, list[str]] = {}
    for spec in PROCESSES.values():
        if spec.port is not None:
            port = spec.port
        else:
            setting, default = METRICS_PORT_SETTINGS[spec.name]
            port = int(spec.env.get(setting, default))
        expected[spec.name] = [f"127.0.0.1:{port}"]
    jobs = {
        job["job_name"]: [target for static in job["static_configs"] for target in static["targets"]]
        for job in load(PROMETHEUS_FILES / "local.yml")["scrape_configs"]
    }
    assert jobs == expected


def test_compose_scrapes_every_long_running_service_by_its_compose_name() -> None:
    services = load(ROOT / "docker-compose.yml")["services"]
    ours = {name for name, service in services.items() if "build" in service and service.get("restart") != "no"}
    scraped: dict[str, int] = {}
    for job in load(PROMETHEUS_FILES / "compose.yml")["scrape_configs"]:
        for sd in job["dns_sd_configs"]:
            scraped |= dict.fromkeys(sd["names"], sd["port"])
    assert set(scraped) == ours
    for name, port in scraped.items():
        environment = services[name].get("environment") or {}
        served = environment.get("PORT") if isinstance(environment, dict) else None
        if served is not None:
            assert int(served) == port, name
        else:
            command = services[name]["command"][0]
            setting = {"relay": "sales-writer-relay", "consume": "mongo-projector-consume"}[command]
            assert port == METRICS_PORT_SETTINGS[setting][1], name


def test_the_stack_runs_prometheus_with_the_rules_and_a_target_per_process(promtool: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "STACK_DIR": str(tmp_path / "stack"), "STACK_PROMETHEUS_PORT": str(port)}
    stack = [sys.executable, str(ROOT / "deploy" / "local" / "stack")]
    subprocess.run([*stack, "up", "--only", "prometheus"], env=env, check=True, capture_output=True, timeout=60)
    try:
        groups = api(port, "rules")["groups"]
        deadline = time.monotonic() + 10
        jobs: set[str] = set()
        while jobs != set(PROCESSES) and time.monotonic() < deadline:
            time.sleep(0.2)  # targets are discovered just after start-up
            jobs = {target["labels"]["job"] for target in api(port, "targets")["activeTargets"]}
    finally:
        subprocess.run([*stack, "down", "--only", "prometheus"], env=env, check=True, capture_output=True, timeout=60)
    assert {rule["name"] for group in groups for rule in group["rules"] if rule["type"] == "alerting"} == alerts()
    assert jobs == set(PROCESSES)


def api(port: int, path: str) -> Any:
    with urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=5) as response:
        return json.load(response)["data"]


@pytest.mark.integration
def test_a_live_run_is_scraped_whole_and_trips_no_alert(
    promtool: str, servers: Servers, session_mysql_database: Callable[[str], str], tmp_path: Path
) -> None:
    """Every process of a run, the relay in its own process as on a local run, scraped with
    local.yml's jobs on the run's ports: all of them up, every metric a rule reads present once a
    sale has gone through, and no alert's expression true."""
    deployment = Deployment.create(servers, make_database=session_mysql_database, work_dir=tmp_path / "deployment")
    wake = f"127.0.0.1:{free_port()}"
    deployment.processes["sales-writer"].env.update(RELAY_ENABLED="false", RELAY_WAKE_ADDRESS=wake)
    ports = {name: process.port for name, process in deployment.processes.items() if process.port is not None}
    ports["sales-writer-relay"] = free_port()
    ports["mongo-projector-consume"] = int(deployment.processes["mongo-projector-consume"].env["METRICS_PORT"])
    relay_env = {
        "MYSQL_DATABASE": deployment.names["sales_db"],
        "RELAY_METRICS_PORT": str(ports["sales-writer-relay"]),
        "RELAY_WAKE_ADDRESS": wake,
    }
    deployment.add("sales-writer-relay", PROCESSES["sales-writer-relay"].argv, None, relay_env)
    deployment.migrate()
    deployment.create_user("ops-probe@example.com", "technical_worker", "Probe-password-1")

    config = load(PROMETHEUS_FILES / "local.yml")
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES)]
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    prometheus = Process(
        "prometheus",
        [
            str(Path(promtool).with_name("prometheus")),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        ],
        dict(os.environ),
        tmp_path / "prometheus.log",
        port,
        ready_path="/-/ready",
    )
    with running(deployment):
        try:
            prometheus.start().wait_ready()
            gateway = deployment.url("gateway")
            login = httpx.post(
                f"{deployment.url('auth')}/login",
                json={"email": "ops-probe@example.com", "password": "Probe-password-1"},
                timeout=30,
            )
            login.raise_for_status()
            created = httpx.post(
                f"{gateway}/api/sales",
                json=sale_body(),
                headers={"authorization": f"Bearer {login.json()['access_token']}"},
                timeout=30,
            )
            assert created.status_code == 201, created.text

            def scraped() -> tuple[dict[str, float], set[str]]:
                up = {sample["metric"]["job"]: float(sample["value"][1]) for sample in query(port, "up")}
                present = {name for name in metrics_read_by_rules() if query(port, f"count({name})")}
                return up, present

            deadline = time.monotonic() + 60
            up, present = scraped()
            while (up != dict.fromkeys(PROCESSES, 1.0) or present != metrics_read_by_rules()) and (
                time.monotonic() < deadline
            ):
                time.sleep(1)
                up, present = scraped()
            assert up == dict.fromkeys(PROCESSES, 1.0)
            assert present == metrics_read_by_rules()
            publishing = [float(sample["value"][1]) for sample in query(port, "sum(sales_writer_relay_publishing)")]
            assert publishing == [1.0], "the one relay holds the publish lock"
            time.sleep(3)  # a few evaluations of the recording rules
            tripped = {rule["alert"]: query(port, rule["expr"]) for rule in rules() if "alert" in rule}
            assert {name: result for name, result in tripped.items() if result} == {}
        finally:
            prometheus.stop()


def query(port: int, promql: str) -> list[dict[str, Any]]:
    return list(api(port, f"query?{urlencode({'query': promql})}")["result"])
