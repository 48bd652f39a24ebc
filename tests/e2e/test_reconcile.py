"""`mongo-projector reconcile`: finds every kind of drift planted in the copy, and `--repair` ends it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from conftest import Scenario

from supply_common.contract import METADATA_FIELD

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def reconcile(scenario: Scenario, *args: str) -> tuple[dict[str, int], dict[str, set[str]], str]:
    deployment = scenario.deployment
    output = deployment.run(
        ["mongo-projector", "reconcile", *args, "--show", "1000"],
        env=deployment.operator_env(),
    )
    print(output)
    counts = {kind: int(n) for kind, n in re.findall(r"(missing|stale|corrupted|stray) (\d+)", output)}
    ids = {
        kind: set(found.split())
        for kind, found in re.findall(r"^\s+(missing|stale|corrupted|stray): (.*)$", output, re.M)
    }
    return counts, ids, output


def test_reconcile_finds_planted_drift_of_every_kind_and_repair_removes_it(scenario: Scenario) -> None:
    load = scenario.load(writes=150, rate_per_s=50)
    tally = load.start().wait(60)
    scenario.converge(tally)
    assert reconcile(scenario)[0] == {"missing": 0, "stale": 0, "corrupted": 0, "stray": 0}

    copy = scenario.copy()
    documents = list(copy.find({}).sort("_id", 1).limit(4))
    assert len(documents) == 4
    gone, behind, altered, cloned = (str(d["_id"]) for d in documents)
    resurrected = sorted(load.deleted)[0]
    copy.delete_one({"_id": ObjectId(gone)})
    copy.update_one({"_id": ObjectId(behind)}, {"$inc": {f"{METADATA_FIELD}.version": -1}})
    copy.update_one({"_id": ObjectId(altered)}, {"$set": {"storeLocation": "Nowhere", "customer.age": 200}})
    stray = documents[3] | {"_id": ObjectId()}
    copy.insert_one(stray)
    copy.insert_one(documents[3] | {"_id": ObjectId(resurrected), "saleDate": datetime(2001, 1, 1, tzinfo=UTC)})
    scenario.faults.injected += ["deleted a document", "lowered a version", "altered content", "two strays"]

    counts, ids, _ = reconcile(scenario)
    assert counts == {"missing": 1, "stale": 1, "corrupted": 1, "stray": 2}
    assert ids == {
        "missing": {gone},
        "stale": {behind},
        "corrupted": {altered},
        "stray": {str(stray["_id"]), resurrected},
    }
    assert cloned not in " ".join(" ".join(v) for v in ids.values())

    _, _, output = reconcile(scenario, "--repair")
    assert "republished 3, strays deleted 2" in output
    # The rollups counted the deleted and the altered sales as they were before the hand edits; the
    # repair events moved them from the edited documents, so repair replaces those buckets once the
    # copy holds what was republished.
    assert re.search(r"rollups repair: replaced [1-9]\d*, changed meanwhile \(left; run again\) 0", output), output
    scenario.converge(tally)
    counts, _, output = reconcile(scenario)
    assert counts == {"missing": 0, "stale": 0, "corrupted": 0, "stray": 0}
    assert "differing 0," in output, output
