"""The relay's partition choice is Kafka's default rule, as aiokafka's own partitioner computes it."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given
from hypothesis import strategies as st

from supply_sales_writer.adapters.partitions import partition_for


@given(key=st.binary(max_size=64), count=st.integers(min_value=1, max_value=64))
def test_a_key_goes_where_aiokafkas_default_partitioner_sends_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


@given(key=st.binary(min_size=24, max_size=24))
def test_the_hash_is_murmur2_with_kafkas_seed(key: bytes) -> None:
    assert partition_for(key, range(2**31 - 1)) == (murmur2(key) & 0x7FFFFFFF) % (2**31 - 1)


def test_known_keys_keep_their_partitions() -> None:
    """Pinned values: a change here would send a sale's next events to another partition than the one
    its earlier events are on, and the copy could apply them out of order."""
    keys = [b"5bd761dcae323e45a93ccfe8", b"5bd761dcae323e45a93ccfe9", b"5bd761dcae323e45a93ccfea", b""]
    assert [partition_for(key, range(6)) for key in keys] == [2, 5, 2, 3]
    assert partition_for(b"5bd761dcae323e45a93ccfe8", range(540185229)) == 540185228
