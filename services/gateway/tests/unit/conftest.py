"""The `gateway` fixture: the whole app in process over mocked upstreams (see `app_support`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from supply_gateway.config import GatewaySettings

from .app_support import Upstreams, running


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[httpx.AsyncClient, Upstreams]]:
    async with running(GatewaySettings(breaker_failures=3, rate_credentials_burst=3)) as (client, upstreams, _):
        yield client, upstreams
