"""`mongo-projector consume` as real processes: SIGKILL loses nothing, three processes share six partitions."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from supply_projector.adapters.kafka import KafkaOffsets
from supply_projector.bootstrap import Container

from .conftest import produce, start_consumer, versions_of, wait_for
from .events import history

pytestmark = pytest.mark.integration


async def test_a_killed_consumer_resumes_with_no_loss(container: Container, tmp_path: Path) -> None:
    events, final = history(1500, 500, seed=11)
    await produce(container.settings, events)
    log = tmp_path / "consumer.log"
    process = start_consumer(container.settings, log)
    try:
        await wait_for(lambda: len(versions_of(container)) >= 100, what="some progress", timeout_s=120)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        process = start_consumer(container.settings, log)
        await wait_for(lambda: versions_of(container) == final, what="convergence after SIGKILL", timeout_s=240)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()


async def test_three_consumers_split_six_partitions_and_converge(container: Container, tmp_path: Path) -> None:
    settings = container.settings
    events, final = history(300, 600, seed=12)
    logs = [tmp_path / f"consumer{i}.log" for i in range(3)]
    processes = [start_consumer(settings, log) for log in logs]
    try:
        await asyncio.sleep(3)
        await produce(settings, events)
        await wait_for(lambda: versions_of(container) == final, what="convergence", timeout_s=240)
        offsets = KafkaOffsets(settings, settings.consumer_group)
        try:
            ends = await offsets.end_offsets(settings.sales_topic)
            for _ in range(300):  # a member that joins late applies its partitions again before committing
                committed = await offsets.committed(settings.sales_topic)
                if committed == ends:
                    break
                await asyncio.sleep(0.2)
            assert committed == ends
        finally:
            await offsets.close()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(30) for process in processes] == [0, 0, 0]
        assigned = [log.read_text().count("partitions assigned") for log in logs]
        assert all(count >= 1 for count in assigned)
        owners = ['"partitions": [' in log.read_text() for log in logs]
        assert all(owners)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
