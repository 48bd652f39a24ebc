"""Convergence under faults: each scenario writes through the gateway (creates, updates with If-Match,
deletes) while something breaks, then checks that MySQL and the MongoDB copy hold the same sales."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import httpx
import pytest
from conftest import Launch, Scenario
from convergence import compare
from stores import duplicates, outbox_backlog, produce, records, sales_without_event

from supply_common.testing.deployment import free_port
from supply_common.testing.sales import sale_body

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def wait_until(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout_s} s"
        time.sleep(0.2)


def pids(scenario: Scenario) -> dict[str, int]:
    return {name: p.popen.pid for name, p in scenario.deployment.processes.items() if p.popen is not None}


def test_1_projector_killed_mid_batch_and_restarted(scenario: Scenario) -> None:
    load = scenario.load(writes=300, rate_per_s=40).start()
    scenario.faults.kill_repeatedly("mongo-projector-consume", 3)
    tally = load.wait(90)
    scenario.converge(tally)


def test_2_kafka_stopped_for_15_s_while_writes_keep_succeeding(scenario: Scenario) -> None:
    load = scenario.load(writes=400, rate_per_s=15).start()
    time.sleep(3)
    with scenario.faults.outage("kafka"):
        before = load.tally.writes
        time.sleep(15)
        during = load.tally.writes - before
    tally = load.wait(120)
    print(f"  writes while Kafka was down: {during}")
    assert during >= 100, "writes did not keep succeeding while Kafka was down"
    assert not tally.failures, f"writes failed while only Kafka was down: {tally.failures[:5]}"
    scenario.converge(tally, timeout_s=120)
    assert outbox_backlog(scenario.engine) == 0


def test_3_ferretdb_stopped_for_15_s_during_projection_dead_letters_nothing(scenario: Scenario) -> None:
    load = scenario.load(writes=300, rate_per_s=15).start()
    time.sleep(4)
    with scenario.faults.outage("ferretdb"):
        time.sleep(15)
    tally = load.wait(120)
    scenario.converge(tally, timeout_s=120)
    dead = records(scenario.deployment.base_env["KAFKA_BOOTSTRAP_SERVERS"], scenario.deployment.names["dlq_topic"])
    assert dead == [], f"{len(dead)} records dead-lettered for a transient outage"


def test_4_mariadb_stopped_for_10_s_writes_answer_503_fast_and_recover(scenario: Scenario) -> None:
    before = pids(scenario)
    load = scenario.load(writes=300, rate_per_s=15).start()
    time.sleep(3)
    stopped = time.monotonic()
    with scenario.faults.outage("mariadb"):
        time.sleep(10)
    started = time.monotonic()
    tally = load.wait(120)
    during = [f for f in tally.failures if stopped <= f[0] <= started]
    slowest = max((f[3] for f in during), default=0.0)
    print(f"  failed attempts while MariaDB was down: {len(during)}, slowest {slowest:.2f} s")
    assert during, "no write reached the sales-writer while MariaDB was down"
    assert {f[2] for f in tally.failures} == {503}, f"not all refusals were 503: {tally.failures[:10]}"
    assert max(f[3] for f in tally.failures) < 5.0, "a refusal was not fast"
    assert pids(scenario) == before, "a service was restarted"
    assert sales_without_event(scenario.engine) == []
    scenario.converge(tally)


def test_5_sales_writer_killed_under_load_loses_no_event(scenario: Scenario) -> None:
    load = scenario.load(writes=300, rate_per_s=30).start()
    scenario.faults.kill_repeatedly("sales-writer", 2, every_s=3, down_s=1)
    tally = load.wait(120)
    assert sales_without_event(scenario.engine) == [], "a committed sale has no event"
    scenario.converge(tally)
    assert outbox_backlog(scenario.engine) == 0


def test_6_relay_dying_between_publish_and_mark_delivers_duplicates_without_effect(launch: Launch) -> None:
    scenario = launch(extra_env={"RELAY_FAULT": "exit_after_publish"})
    writer = scenario.deployment.processes["sales-writer"]
    load = scenario.load(writes=250, rate_per_s=25).start()
    for cycle in range(3):
        wait_until(lambda: not writer.running, 30, "the relay's exit after publishing")
        scenario.faults.injected.append(f"relay exited between publish and mark (cycle {cycle + 1})")
        writer.popen = None
        writer.env["RELAY_FAULT"] = "exit_after_publish" if cycle < 2 else ""
        time.sleep(0.5)
        writer.start()
    writer.wait_ready(60)
    tally = load.wait(120)
    scenario.converge(tally)
    redelivered = duplicates(
        scenario.deployment.base_env["KAFKA_BOOTSTRAP_SERVERS"], scenario.deployment.names["topic"]
    )
    print(f"  events delivered more than once: {redelivered}")
    assert redelivered > 0, "the fault delivered no duplicate"


def test_7_twenty_clients_racing_on_ten_sales_one_winner_per_version(scenario: Scenario) -> None:
    tokens = scenario.tokens()
    with httpx.Client(base_url=scenario.gateway, timeout=15) as client:
        sale_ids = []
        for n in range(10):
            body = sale_body(email="racer@example.com", store="Austin", price="1.50", quantity=n + 1)
            response = client.post("/api/sales", json=body, headers=tokens.headers())
            assert response.status_code == 201, response.text
            sale_ids.append(response.json()["id"])
    winners: dict[str, list[int]] = defaultdict(list)
    losers: list[int] = []
    problems: list[str] = []
    lock = threading.Lock()

    def racer(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=scenario.gateway, timeout=15) as client:
            for _ in range(12):
                sale_id = rng.choice(sale_ids)
                current = client.get(f"/api/sales/{sale_id}/current", headers=tokens.headers())
                if current.status_code != 200:
                    problems.append(f"read {current.status_code}")
                    continue
                body = current.json()["sale"]
                body.pop("_id")
                body["customer"]["satisfaction"] = rng.randint(1, 5)
                answer = client.put(
                    f"/api/sales/{sale_id}",
                    json=body,
                    headers={**tokens.headers(), "if-match": current.headers["etag"]},
                )
                with lock:
                    if answer.status_code == 200:
                        winners[sale_id].append(int(answer.json()["version"]))
                    elif answer.status_code == 412:
                        losers.append(int(answer.json()["current_version"]))
                    else:
                        problems.append(f"update {answer.status_code} {answer.text[:200]}")

    background = scenario.load(writes=150, rate_per_s=15, workers=4).start()
    racers = [threading.Thread(target=racer, args=(n,)) for n in range(20)]
    for thread in racers:
        thread.start()
    for thread in racers:
        thread.join(120)
    tally = background.wait(120)
    assert not problems, problems[:5]
    with httpx.Client(base_url=scenario.gateway, timeout=15) as client:
        for sale_id in sale_ids:
            final = int(client.get(f"/api/sales/{sale_id}/current", headers=tokens.headers()).json()["version"])
            assert sorted(winners[sale_id]) == list(range(2, final + 1)), f"{sale_id}: winners {winners[sale_id]}"
    won = sum(len(v) for v in winners.values())
    print(f"  race: {won} winning updates, {len(losers)} answered 412")
    assert losers, "no client lost a race"
    scenario.converge(tally)


def test_8_three_projectors_one_killed_one_added_during_load(launch: Launch) -> None:
    scenario = launch()
    for name in ("mongo-projector-consume-2", "mongo-projector-consume-3"):
        scenario.add_consumer(name)
    load = scenario.load(writes=300, rate_per_s=20).start()
    time.sleep(4)
    scenario.faults.kill("mongo-projector-consume")
    time.sleep(4)
    scenario.add_consumer("mongo-projector-consume-4")
    scenario.faults.injected.append("added mongo-projector-consume-4")
    tally = load.wait(120)
    scenario.converge(tally, timeout_s=120)


def test_9_poison_record_parks_its_sale_until_repair(launch: Launch) -> None:
    scenario = launch()
    deployment = scenario.deployment
    tokens = scenario.tokens()
    bootstrap = deployment.base_env["KAFKA_BOOTSTRAP_SERVERS"]
    with httpx.Client(base_url=scenario.gateway, timeout=15) as client:
        created = client.post(
            "/api/sales",
            json=sale_body(email="poisoned@example.com", store="London"),
            headers=tokens.headers(),
        )
        assert created.status_code == 201, created.text
        victim = created.json()["id"]
        shown = client.get(f"/api/sales/{victim}", params={"min_version": 1, "wait_ms": 5000}, headers=tokens.headers())
        assert shown.status_code == 200, shown.text
        produce(bootstrap, deployment.names["topic"], victim.encode(), b'{"event_type": "sale.updated", "sale_id": ')
        scenario.faults.injected.append(f"poison record for {victim}")
        load = scenario.load(writes=200, rate_per_s=25).start()
        sale = client.get(f"/api/sales/{victim}/current", headers=tokens.headers())
        body = sale.json()["sale"]
        body.pop("_id")
        body["customer"]["satisfaction"] = 5
        for _ in range(2):
            answer = client.put(
                f"/api/sales/{victim}", json=body, headers={**tokens.headers(), "if-match": sale.headers["etag"]}
            )
            assert answer.status_code == 200, answer.text
            sale = answer
        tally = load.wait(120)

    def only_victim_differs() -> bool:
        report = compare(scenario.engine, scenario.copy())
        return [(d.sale_id, d.kind) for d in report.differences] == [(victim, "stale")]

    wait_until(only_victim_differs, 90, "every sale but the poisoned one converging")
    print(f"  only {victim} is behind; its later events are parked")
    dead = records(bootstrap, deployment.names["dlq_topic"])
    assert len(dead) == 1, f"{len(dead)} dead letters"
    output = deployment.run(
        ["mongo-projector", "reconcile", "--repair"], env={"SALES_WRITER_URL": deployment.url("sales-writer")}
    )
    print(output)
    assert "stale 1" in output
    assert victim in output
    scenario.faults.injected.append("reconcile --repair")
    scenario.converge(tally)


def test_10_relay_in_its_own_process_killed_and_restarted_loses_nothing(launch: Launch) -> None:
    """The layout `make run` starts: server processes without a relay, sending commit notices to a
    `sales-writer relay` of its own. Killing the relay loses no event and fails no write."""
    scenario = launch(start=False)
    deployment = scenario.deployment
    notices = {"RELAY_WAKE_ADDRESS": f"127.0.0.1:{free_port()}"}
    deployment.processes["sales-writer"].env.update(RELAY_ENABLED="false", **notices)
    deployment.add(
        "sales-writer-relay",
        ["sales-writer", "relay"],
        None,
        {"MYSQL_DATABASE": deployment.names["sales_db"], "RELAY_METRICS_PORT": "0", **notices},
    )
    deployment.start_all()
    load = scenario.load(writes=300, rate_per_s=30).start()
    scenario.faults.kill_repeatedly("sales-writer-relay", 3, down_s=1)
    tally = load.wait(90)
    assert not tally.failures, f"writes failed while only the relay was down: {tally.failures[:5]}"
    assert sales_without_event(scenario.engine) == [], "a committed sale has no event"
    scenario.converge(tally)
    assert outbox_backlog(scenario.engine) == 0
