"""HTTP client of the sales-writer's internal drift-control routes (digest and republish)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx

from supply_projector.service_layer.reconcile import Entry


class WriterClient:
    """`GET /internal/sales/digest` and `POST /internal/sales/republish`, retried on transport errors,
    each with the service credential `credential` gives (read per request, so one issued anew is used)."""

    def __init__(
        self,
        base_url: str,
        *,
        credential: Callable[[], str],
        timeout_s: float = 30.0,
        attempts: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)
        self.credential = credential
        self.attempts = attempts

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> WriterClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        delay = 0.2
        for attempt in range(self.attempts):
            try:
                headers = {"authorization": f"Bearer {self.credential()}"}
                response = self.client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError:
                if attempt == self.attempts - 1:
                    raise
            else:
                if response.status_code < 500 or attempt == self.attempts - 1:
                    response.raise_for_status()
                    return response
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def digest(self, after: str | None, limit: int) -> list[Entry]:
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        rows = self._request("GET", "/internal/sales/digest", params=params).json()
        return [Entry(str(row["id"]), int(row["version"]), str(row["hash"])) for row in rows]

    def republish(self, ids: Sequence[str]) -> int:
        response = self._request("POST", "/internal/sales/republish", json={"ids": list(ids)})
        return int(response.json()["republished"])
