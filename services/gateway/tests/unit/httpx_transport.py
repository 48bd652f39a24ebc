"""A gateway `Transport` over any httpx transport, so that tests can answer for the upstreams with
`httpx.MockTransport` handlers."""

from __future__ import annotations

import httpx
from multidict import CIMultiDict

from supply_gateway.adapters.upstream_transport import (
    BadAnswer,
    TimedOut,
    TransportError,
    Unreachable,
    UpstreamRequest,
    UpstreamResponse,
)


class HttpxTransport:
    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        read_up_to = request.read_up_to
        outgoing = httpx.Request(request.method, request.url, headers=request.headers, content=request.body)
        try:
            response = await self.transport.handle_async_request(outgoing)
            response.request = outgoing
            answer_headers = CIMultiDict(response.headers.multi_items())
            length = response.headers.get("content-length")
            if read_up_to is None or (length is not None and int(length) <= read_up_to):
                content = await response.aread()
                return UpstreamResponse(response.status_code, answer_headers, content=content)
        except httpx.TransportError as exc:
            raise _failure(exc) from exc
        return UpstreamResponse(
            response.status_code, answer_headers, stream=response.aiter_bytes(), release=response.aclose
        )

    async def aclose(self) -> None:
        await self.transport.aclose()


def _failure(exc: httpx.TransportError) -> TransportError:
    if isinstance(exc, httpx.ConnectError):
        return Unreachable(str(exc), retryable=True)
    if isinstance(exc, httpx.TimeoutException):
        return TimedOut(str(exc))
    return BadAnswer(str(exc), retryable=True)
