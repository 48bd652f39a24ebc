"""HTTP calls for the load generators (aiohttp: the cheapest client per request on a 2-core machine)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

STAFF = {"X-User-Id": "bench", "X-User-Role": "technical_worker", "X-User-Email": "bench@example.com"}


class HttpStatusError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status


def session(connections: int = 256) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False, enable_cleanup_closed=True)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


class Creator:
    """POST one prepared sale body per call; keeps the ids and versions it got back."""

    def __init__(self, client: aiohttp.ClientSession, url: str, bodies: list[bytes], headers: dict[str, str]) -> None:
        self.client = client
        self.url = url
        self.bodies = bodies
        self.headers = {"Content-Type": "application/json", **headers}
        self.created: list[tuple[str, int]] = []
        self.keep = False

    async def __call__(self, index: int) -> None:
        body = self.bodies[index % len(self.bodies)]
        async with self.client.post(self.url, data=body, headers=self.headers) as response:
            text = await response.read()
            if response.status != 201:
                raise HttpStatusError(response.status, text.decode(errors="replace"))
        if self.keep:
            answer: dict[str, Any] = json.loads(text)
            self.created.append((answer["id"], answer.get("version", 1)))
