"""The partition a keyed event goes to: Kafka's default rule for a key.

murmur2 of the key (seed 0x9747b28c), sign bit cleared, modulo the topic's partition count, over the
partitions sorted by id: what the Java client and aiokafka's `DefaultPartitioner` pick, so that the
relay's batches land where `send` would have put them and every event of a sale stays on one
partition. aiokafka computes murmur2 in Python; `murmurhash2` is the same function in C. The unit tests pin
the two together.
"""

from __future__ import annotations

from collections.abc import Sequence

from murmurhash2 import murmurhash2

SEED = 0x9747B28C


def partition_for(key: bytes, partitions: Sequence[int]) -> int:
    """The partition of `partitions` (all of the topic's, sorted by id) that records with `key` go to."""
    return partitions[(murmurhash2(key, SEED) & 0x7FFFFFFF) % len(partitions)]
