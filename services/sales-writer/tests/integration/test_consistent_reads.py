"""Reads of a sale that is being changed at the same time: every read is one version, whole."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from supply_common.contract import from_document, sale_hash

pytestmark = pytest.mark.integration

FLIPS = 150
READERS = 4


def _lines(count: int) -> list[dict[str, Any]]:
    names = ["pens", "notepad", "binder", "backpack", "envelopes"]
    return [
        {"name": names[n], "tags": ["office", "school", f"line-{n}"], "price": f"{n + 1}.25", "quantity": n + 1}
        for n in range(count)
    ]


def test_reads_during_updates_each_show_one_whole_version(client: TestClient, kit) -> None:
    """A writer flips a sale between 1 and 5 item lines; readers of the sale, of a page of sales and of
    the digest only ever see the content of the version they are told, and never fail."""
    one, five = kit.body(items=_lines(1)), kit.body(items=_lines(5), couponUsed=True)
    created = client.post("/sales", json=one, headers=kit.worker).json()
    sale_id = created["id"]
    expected = {1: created["sale"]}  # version -> canonical sale, odd versions hold `one`, even `five`
    done = threading.Event()
    problems: list[str] = []

    def write() -> None:
        try:
            for version in range(1, FLIPS + 1):
                body = five if version % 2 else one
                answer = client.put(f"/sales/{sale_id}", json=body, headers=kit.worker | {"If-Match": f'"{version}"'})
                assert answer.status_code == 200, answer.text
                expected[version + 1] = answer.json()["sale"]
        finally:
            done.set()

    def content_of(version: int) -> dict[str, Any]:
        # A reader may see a version before the writer thread has filed its answer.
        for _ in range(200):
            if version in expected:
                return expected[version]
            time.sleep(0.005)
        raise AssertionError(f"version {version} never written")

    def read() -> None:
        service = kit.container.service
        while not done.is_set():
            try:
                answer = client.get(f"/sales/{sale_id}", headers=kit.worker)
            except Exception as exc:  # the test client raises what would be a 500
                problems.append(f"GET failed: {exc!r}")
                continue
            if answer.status_code != 200:
                problems.append(f"GET answered {answer.status_code}")
                continue
            view = answer.json()
            if view["sale"] != content_of(view["version"]):
                problems.append(f"GET mixed versions at version {view['version']}")
            try:
                (entry,) = [e for e in service.digest(None, 1000) if e["id"] == sale_id]
            except Exception as exc:  # every failure is a finding
                problems.append(f"digest failed: {exc!r}")
                continue
            if entry["hash"] != sale_hash(from_document(content_of(entry["version"]))):
                problems.append(f"digest hash is not version {entry['version']}'s")

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(expected) == FLIPS + 1
    assert problems == []
