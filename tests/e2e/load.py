"""Write load through the gateway: creates, updates with If-Match and deletes, from several threads.

Each worker keeps to sales no other worker is touching at that moment, so every 412 it meets is a
real conflict with a fault's aftermath, not with itself. Failures (5xx, transport errors, 429) are
retried within a bound; a write whose outcome is unknown is resolved by reading the sale back from
MySQL (through the gateway), so the driver always knows each sale's current version.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from supply_common.testing.sales import random_sale_body

RETRYABLE = {429, 500, 502, 503, 504}


def random_sale(rng: random.Random) -> dict[str, Any]:
    """A random sale by one of forty customers, so that customers buy more than once."""
    return random_sale_body(rng, customers=40)


class Tokens:
    """A technical worker's access token, renewed through the gateway's login when it ages."""

    def __init__(self, gateway_url: str, email: str, password: str) -> None:
        self.gateway_url, self.email, self.password = gateway_url, email, password
        self._lock = threading.Lock()
        self._token = ""
        self._at = 0.0
        self.renew()

    def renew(self) -> None:
        response = httpx.post(
            f"{self.gateway_url}/api/auth/login", json={"email": self.email, "password": self.password}, timeout=10
        )
        response.raise_for_status()
        self._token, self._at = response.json()["access_token"], time.monotonic()

    def headers(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._at > 120:
                with contextlib.suppress(httpx.HTTPError):
                    self.renew()
            return {"authorization": f"Bearer {self._token}"}


@dataclass
class Tally:
    done: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[float, str, int, float]] = field(default_factory=list)
    """(when, op, status or 0 for a transport error, seconds it took)"""
    unresolved: int = 0

    @property
    def writes(self) -> int:
        return sum(self.done.values())

    def line(self) -> str:
        answers = " ".join(f"{key}={value}" for key, value in sorted(self.answers.items()))
        return (
            f"writes={self.writes} creates={self.done['create']} updates={self.done['update']} "
            f"deletes={self.done['delete']} | answers: {answers}"
        )


class Load:
    def __init__(
        self,
        gateway_url: str,
        tokens: Tokens,
        *,
        writes: int,
        rate_per_s: float,
        workers: int = 8,
        seed: int | None = None,
        op_bound_s: float = 60.0,
    ) -> None:
        self.gateway_url = gateway_url
        self.tokens = tokens
        self.target = writes
        self.interval = 1.0 / rate_per_s
        self.workers = workers
        self.op_bound_s = op_bound_s
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.versions: dict[str, int] = {}
        self.deleted: set[str] = set()
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next_slot = time.monotonic()
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def start(self) -> Load:
        self._next_slot = time.monotonic()
        self._threads = [
            threading.Thread(target=self._worker, args=(n,), name=f"load-{n}", daemon=True) for n in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout_s: float) -> Tally:
        """Until the target is reached (or `stop()`), within the bound; raises what a worker raised."""
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        self._stop.set()
        if self.errors:
            raise self.errors[0]
        assert not alive, f"load did not finish within {timeout_s} s: {self.tally.line()}"
        return self.tally

    def _slot(self) -> bool:
        """Pace the workers together to the target rate; False when it is time to stop."""
        with self._lock:
            if self._stop.is_set() or self.tally.writes + len(self._busy) >= self.target:
                return False
            slot = max(self._next_slot, time.monotonic())
            self._next_slot = slot + self.interval
        time.sleep(max(0.0, slot - time.monotonic()))
        return not self._stop.is_set()

    def _worker(self, number: int) -> None:
        rng = random.Random(self.rng.random() + number)
        try:
            with httpx.Client(base_url=self.gateway_url, timeout=15) as client:
                while self._slot():
                    sale_id, version = self._claim(rng)
                    try:
                        roll = rng.random()
                        if sale_id is None or roll < 0.45:
                            self._create(client, rng)
                        elif roll < 0.85:
                            self._update(client, rng, sale_id, version)
                        else:
                            self._delete(client, sale_id, version)
                    finally:
                        if sale_id is not None:
                            with self._lock:
                                self._busy.discard(sale_id)
        except BaseException as exc:
            self.errors.append(exc)
            self._stop.set()

    def _claim(self, rng: random.Random) -> tuple[str | None, int]:
        with self._lock:
            free = [sale_id for sale_id in self.versions if sale_id not in self._busy]
            if len(free) < 5:
                return None, 0
            sale_id = rng.choice(free)
            self._busy.add(sale_id)
            return sale_id, self.versions[sale_id]

    def _send(self, client: httpx.Client, op: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """One attempt; None (and a recorded failure) for a transport error or a retryable status."""
        headers = {**self.tokens.headers(), **kwargs.pop("headers", {})}
        started = time.monotonic()
        try:
            response = client.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            self._count(op, type(exc).__name__)
            self.tally.failures.append((started, op, 0, time.monotonic() - started))
            return None
        self._count(op, str(response.status_code))
        if response.status_code in RETRYABLE:
            self.tally.failures.append((started, op, response.status_code, time.monotonic() - started))
            return None
        return response

    def _count(self, op: str, outcome: str) -> None:
        with self._lock:
            self.tally.answers[f"{op}:{outcome}"] += 1

    def _done(self, op: str) -> None:
        with self._lock:
            self.tally.done[op] += 1

    def _retrying(self, attempt: Callable[[], httpx.Response | None]) -> httpx.Response:
        deadline = time.monotonic() + self.op_bound_s
        delay = 0.1
        while True:
            response = attempt()
            if response is not None:
                return response
            if time.monotonic() > deadline:
                raise AssertionError(f"a write got no answer within {self.op_bound_s} s")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _create(self, client: httpx.Client, rng: random.Random) -> None:
        key = secrets.token_hex(12)
        body = random_sale(rng)
        response = self._retrying(
            lambda: self._send(client, "create", "POST", "/api/sales", json=body, headers={"idempotency-key": key})
        )
        assert response.status_code == 201, f"create: {response.status_code} {response.text[:300]}"
        created = response.json()
        with self._lock:
            self.versions[created["id"]] = int(created["version"])
        self._done("create")

    def _update(self, client: httpx.Client, rng: random.Random, sale_id: str, version: int) -> None:
        response = self._send(
            client,
            "update",
            "PUT",
            f"/api/sales/{sale_id}",
            json=random_sale(rng),
            headers={"if-match": f'"{version}"'},
        )
        if response is not None and response.status_code == 200:
            with self._lock:
                self.versions[sale_id] = int(response.json()["version"])
            self._done("update")
            return
        assert response is None or response.status_code == 412, f"update: {response.status_code} {response.text[:300]}"
        self._resync(client, sale_id)

    def _delete(self, client: httpx.Client, sale_id: str, version: int) -> None:
        response = self._send(client, "delete", "DELETE", f"/api/sales/{sale_id}", headers={"if-match": f'"{version}"'})
        if response is not None and response.status_code == 204:
            self._forget(sale_id)
            self._done("delete")
            return
        assert response is None or response.status_code in (404, 412), (
            f"delete: {response.status_code} {response.text[:300]}"
        )
        self._resync(client, sale_id)

    def _forget(self, sale_id: str) -> None:
        with self._lock:
            self.versions.pop(sale_id, None)
            self.deleted.add(sale_id)

    def _resync(self, client: httpx.Client, sale_id: str) -> None:
        """After an unknown outcome, learn the sale's state from MySQL."""
        response = self._retrying(lambda: self._send(client, "read", "GET", f"/api/sales/{sale_id}/current"))
        if response.status_code == 404:
            self._forget(sale_id)
            return
        assert response.status_code == 200, f"read: {response.status_code} {response.text[:300]}"
        with self._lock:
            self.versions[sale_id] = int(response.json()["version"])
