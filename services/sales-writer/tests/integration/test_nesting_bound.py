"""Input nested deeper than any sale is refused at once (422 naming where), at constant memory."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from supply_common.processes import Process
from supply_common.testing import SAMPLE_DATASET
from supply_common.testing.deployment import command, free_port
from supply_common.testing.tokens import ISSUER_FOR_TESTS
from supply_sales_writer.config import SalesWriterSettings
from supply_sales_writer.domain.nesting import MAX_DEPTH

pytestmark = pytest.mark.integration
WORKER = ISSUER_FOR_TESTS.bearer("technical_worker", sub="worker-1")
NESTED = b"[" * 10_000 + b"]" * 10_000
"""20 KB of nested arrays."""
LINES = SAMPLE_DATASET.read_text().splitlines()


def _refusal(response: httpx.Response, line: int) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "Nested too deep"
    assert problem["line"] == line
    assert problem["errors"][0]["field"] == "body"
    assert f"line {line}" in problem["errors"][0]["reason"]
    assert f"more than {MAX_DEPTH} levels" in problem["errors"][0]["reason"]
    return problem


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_an_import_of_nested_arrays_is_refused_naming_line_1(client: TestClient, kit, content_type: str) -> None:
    response = client.post("/sales/import", content=NESTED, headers=WORKER | {"content-type": content_type})
    problem = _refusal(response, 1)
    assert problem["imported"]["created"] == 0
    assert kit.count() == 0


def test_an_import_keeps_the_lines_before_a_line_nested_too_deep_and_reads_nothing_after(
    client: TestClient, kit
) -> None:
    content = "\n".join([LINES[0], LINES[1], NESTED.decode(), LINES[2]]).encode()
    problem = _refusal(client.post("/sales/import", content=content, headers=WORKER), 3)
    assert (problem["imported"]["created"], problem["imported"]["rejected"]) == (2, 0)
    assert kit.count() == 2


def test_an_array_record_nested_too_deep_is_named_by_its_position(client: TestClient, kit) -> None:
    deep = json.loads(LINES[1])
    deep["customer"] = {"a": {"b": {"c": {"d": {"e": {"f": {}}}}}}}
    content = ("[" + ",".join([LINES[0], json.dumps(deep), LINES[2]]) + "]").encode()
    problem = _refusal(client.post("/sales/import", content=content, headers=WORKER), 2)
    assert problem["imported"]["created"] == 1
    assert kit.count() == 1


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_sale_body_nested_too_deep_is_refused_with_its_line_and_column(client: TestClient, kit, method: str) -> None:
    body = json.dumps(kit.body(), indent=1).encode()
    at = body.index(b'"tags": [') + len(b'"tags": ')
    body = body[:at] + b"\n" + NESTED + body[at + 1 :]  # the first item's tags: nested arrays on a line of their own
    path = "/sales" if method == "POST" else "/sales/5bd761dcae323e45a93ccfe8"
    headers = WORKER | {"content-type": "application/json", "If-Match": '"1"'}
    response = client.request(method, path, content=body, headers=headers)
    problem = _refusal(response, body[:at].count(b"\n") + 2)
    assert "column" in problem["errors"][0]["reason"]
    assert kit.count() == 0


def test_an_internal_body_nested_too_deep_is_refused(client: TestClient) -> None:
    response = client.post(
        "/internal/sales/republish",
        content=b'{"ids": ' + NESTED + b"}",
        headers=ISSUER_FOR_TESTS.service_bearer("sales:republish") | {"content-type": "application/json"},
    )
    _refusal(response, 1)


def _peak_kib(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture
def server(settings: SalesWriterSettings, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real `sales-writer serve` process on a free port: its URL and pid."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "MYSQL_URL": settings.mysql_url.get_secret_value(),
        "MYSQL_DATABASE": settings.mysql_database,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SALES_TOPIC": settings.sales_topic,
        "RELAY_ENABLED": "false",
        "REVOCATIONS_ENABLED": "false",
        "WORKERS": "1",
        "LOG_LEVEL": "WARNING",
        "AUTH_JWKS_URL": settings.auth_jwks_url,
    }
    process = Process(
        "sales-writer", [command("sales-writer"), "serve"], env, tmp_path / "server.log", port, cwd=tmp_path
    )
    try:
        process.start().wait_ready(30)
        yield process.url, process.pid
    finally:
        process.stop()


def test_a_real_server_refuses_20_kb_of_nested_arrays_within_a_few_mb_of_its_peak(server: tuple[str, int], kit) -> None:
    url, pid = server
    with httpx.Client(base_url=url, headers=WORKER, timeout=30) as http:
        # Every path once first, so that what a first request costs anyway is in the baseline.
        assert http.post("/sales/import", content=SAMPLE_DATASET.read_bytes()).status_code == 200
        for content_type in ("application/json", "application/x-ndjson"):
            assert http.post("/sales/import", content=b"[[]]", headers={"content-type": content_type}).status_code
        before = _peak_kib(pid)
        responses = [
            http.post(path, content=NESTED, headers={"content-type": content_type})
            for _ in range(3)
            for path, content_type in [
                ("/sales/import", "application/json"),
                ("/sales/import", "application/x-ndjson"),
                ("/sales", "application/json"),
            ]
        ]
        after = _peak_kib(pid)
    assert after - before < 4 * 1024, f"peak memory rose from {before} KiB to {after} KiB"
    for response in responses:
        _refusal(response, 1)
    assert kit.count() == 7
