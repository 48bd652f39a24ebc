"""Reconcile's calls to the sales-writer carry its service credential, read anew for each call."""

from __future__ import annotations

import httpx

from supply_projector.adapters.writer_client import WriterClient


def test_every_call_carries_the_credential_as_it_is_now() -> None:
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization", "")))
        if request.url.path.endswith("/digest"):
            return httpx.Response(200, json=[{"id": "5bd761dcae323e45a93ccfe8", "version": 2, "hash": "h"}])
        return httpx.Response(200, json={"republished": 1, "unknown": []})

    credentials = iter(["first", "second"])
    with WriterClient(
        "http://writer", credential=lambda: next(credentials), transport=httpx.MockTransport(answer)
    ) as writer:
        assert [entry.version for entry in writer.digest(None, 10)] == [2]
        assert writer.republish(["5bd761dcae323e45a93ccfe8"]) == 1
    assert seen == [
        ("/internal/sales/digest", "Bearer first"),
        ("/internal/sales/republish", "Bearer second"),
    ]
