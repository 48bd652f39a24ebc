"""Placeholder."""

from bench.context import Context
from bench.model import Row
from bench.services import ServiceMissing


def run(ctx: Context) -> Row:
    raise ServiceMissing("writer")
