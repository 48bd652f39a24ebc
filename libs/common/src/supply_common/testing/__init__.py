"""Test support shared by the services: server fixtures, the dataset sample, stack control."""

from pathlib import Path

SAMPLE_DATASET = Path(__file__).parent / "data" / "supply-store-sales.sample.json"
"""Seven records of the public Supply Store dataset as `mongoexport` wrote them (canonical Extended JSON)."""
