"""The replication panel in a real browser, against the running services: projector consumers added
one by one show up as members splitting the partitions, a dead letter offers its sale's repair, and
the last hour and the firing alerts come from a Prometheus; at a desktop's and a phone's size."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from supply_common.kafka import make_producer
from supply_common.processes import PROCESSES, Process
from supply_common.testing.deployment import Deployment
from supply_gateway.service_layer.operations import MEASURES

from ..conftest import Accounts, Api
from ..prometheus_support import ALERTS, FakePrometheus
from .steps import SIZES, sign_in_as
from .test_pages import assert_accessible, assert_fits

pytestmark = pytest.mark.browser


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    made = FakePrometheus()
    now = time.time()
    lag = [0, 0, 5, 40, 120, 260, 310, 280, 190, 90, 30, 8, 2, 0, 0, 0]
    made.series[MEASURES[0].query] = [(now - 3600 + 240 * i, str(v)) for i, v in enumerate(lag)]
    made.series[MEASURES[1].query] = [(now - 3600 + 240 * i, str(v / 10 + 1)) for i, v in enumerate(lag[::-1])]
    made.alerts = ALERTS
    yield made
    made.close()


@pytest.fixture
def ops_gateway(deployment: Deployment, prometheus: FakePrometheus) -> Iterator[str]:
    """One more gateway in front of the same services, reading the test's Prometheus."""
    gateway = deployment.add_gateway("gateway-ops", PROMETHEUS_URL=prometheus.url)
    gateway.start().wait_ready()
    try:
        yield gateway.url
    finally:
        gateway.stop()
        deployment.processes.pop("gateway-ops", None)


def add_consumer(deployment: Deployment, number: int) -> Process:
    """One more `mongo-projector consume` process in the deployment's consumer group."""
    name = f"mongo-projector-consume-{number}"
    alive = deployment.work_dir / f"{name}.alive"
    env = {"METRICS_PORT": "0", "HEARTBEAT_FILE": str(alive)}
    return deployment.add(name, PROCESSES["mongo-projector-consume"].argv, None, env).start()


def dead_letter(deployment: Deployment, sale_id: str) -> None:
    """An event nobody can read, keyed by a real sale: the projector sends it to the DLQ."""
    settings = deployment.kafka_settings()

    async def send() -> None:
        producer = make_producer(settings)
        await producer.start()
        try:
            await producer.send_and_wait(settings.sales_topic, value=b'{"event_type": 1', key=sale_id.encode())
        finally:
            await producer.stop()

    # Playwright's sync API holds this thread's event loop: the producer runs in a thread of its own.
    worker = threading.Thread(target=lambda: asyncio.run(send()))
    worker.start()
    worker.join(60)


def members(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("#ops-members .ops-client").all_inner_texts()]


def wait_for_members(page: Page, count: int, timeout_s: float = 90) -> None:
    """Reload until the group lists `count` members, each holding a partition (a rebalance done)."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto("/ops")
        holding = page.locator("#ops-members .ops-member:has(.chip)").count()
        if len(members(page)) == count and holding == count:
            return
        assert time.monotonic() < deadline, f"members: {members(page)}"
        time.sleep(1)


def test_consumers_added_show_as_members_and_a_dead_letter_is_repaired_from_the_panel(
    browser: Browser,
    deployment: Deployment,
    ops_gateway: str,
    accounts: Accounts,
    api: Api,
    screenshots: Path,
    axe_script: str,
) -> None:
    added: list[Process] = []
    context = browser.new_context(base_url=ops_gateway, viewport=SIZES["1440"], bypass_csp=True)
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        worker = accounts["technical_worker"]
        sign_in_as(page, worker)
        # A sale of its own: its dead letter quarantines it, which the other tests' sales must not be.
        sale_id, version = api.create_sale(accounts["customer"].email)
        api.wait_projected(sale_id, version)
        dead_letter(deployment, sale_id)
        added.append(add_consumer(deployment, 2))
        wait_for_members(page, 2)
        added.append(add_consumer(deployment, 3))
        wait_for_members(page, 3)

        chips: list[set[str]] = [
            set(member.locator(".chip").all_inner_texts()) for member in page.locator("#ops-members .ops-member").all()
        ]
        held = [{chip.split(":")[0] for chip in member} for member in chips]
        assert sorted(p for partitions in held for p in partitions) == ["partition 0", "partition 1", "partition 2"]
        expect(page.locator("#ops-members h2")).to_contain_text("3 in group")
        expect(page.locator("#ops-alerts")).to_contain_text("RelayNotPublishing")
        expect(page.locator("#ops-alerts")).not_to_contain_text("TargetDown")
        expect(page.locator("#ops-hour svg")).to_have_count(2)
        lag_line = page.locator('#ops-hour [data-series="lag"] svg')
        expect(lag_line).to_have_attribute(
            "aria-label", "Consumer lag over the last hour: now 0 events; lowest 0, highest 310."
        )
        letter = page.locator(f'#ops-dead-letters .ops-letter:has-text("{sale_id}")')
        expect(letter).to_have_count(1, timeout=60_000)
        expect(letter).to_contain_text("from " + deployment.names["topic"])

        for width, size in SIZES.items():
            page.set_viewport_size(size)
            page.goto("/ops")
            expect(page.locator("#ops-members .ops-member")).to_have_count(3)
            assert_fits(page, size["width"])
            assert_accessible(page, axe_script, f"replication panel at {width}")
            page.screenshot(path=str(screenshots / f"ops-panel-{width}.png"), full_page=True)

        page.set_viewport_size(SIZES["1440"])
        page.locator(f'#ops-dead-letters .ops-letter:has-text("{sale_id}") .ops-repair').click()
        expect(page.locator("h1")).to_have_text("Repair this sale?")
        assert_accessible(page, axe_script, "repair confirmation")
        page.click("#confirm-repair")
        expect(page.locator(".alert-ok")).to_have_text(
            f"Sale {sale_id} was quarantined after a dead letter: republished from MySQL, which lifts it."
        )
        expect(page.locator("#ops-quarantined")).to_have_text("0", timeout=60_000)  # the panel refreshes itself
    finally:
        context.close()
        for process in added:
            process.stop()
            deployment.processes.pop(process.name, None)


def test_a_manager_sees_the_panel_but_no_repair(
    browser: Browser, ops_gateway: str, accounts: Accounts, customer_sale: str, axe_script: str
) -> None:
    context = browser.new_context(base_url=ops_gateway, viewport=SIZES["390"], bypass_csp=True)
    context.set_default_timeout(30_000)
    try:
        page: Any = context.new_page()
        manager = accounts["senior_management"]
        sign_in_as(page, manager)
        page.goto("/ops")
        expect(page.locator("#ops-members")).to_be_visible()
        expect(page.locator(".ops-repair")).to_have_count(0)
        refused = page.goto(f"/ops/sales/{customer_sale}/repair")
        assert refused is not None
        assert refused.status == 403
    finally:
        context.close()
