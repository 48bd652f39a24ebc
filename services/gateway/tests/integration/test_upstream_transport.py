"""The upstream connection pool against small servers on loopback: what each kind of failure becomes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from supply_gateway.adapters.upstream import Timeouts, Upstream, UpstreamFailure
from supply_gateway.adapters.upstream_transport import TransportError
from supply_gateway.domain.breaker import CircuitBreaker

pytestmark = pytest.mark.integration

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


def _answer(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


def _replying(reply: bytes) -> Handler:
    """A server that reads a request, writes `reply` whatever it was, and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(reply)
        await writer.drain()
        writer.close()

    return handle


@pytest.fixture
async def upstream_at() -> AsyncIterator[Callable[[str], Awaitable[Upstream]]]:
    started: list[Upstream] = []

    async def make(url: str) -> Upstream:
        upstream = Upstream(
            "writer",
            url,
            timeouts=Timeouts(connect_s=0.5, read_s=0.3, pool_s=0.5),
            breaker=CircuitBreaker(threshold=100),
        )
        await upstream.start()
        started.append(upstream)
        return upstream

    yield make
    for upstream in started:
        await upstream.aclose()


async def test_requests_and_answers_cross_on_kept_alive_connections(upstream_at) -> None:
    peers: set[object] = set()
    seen: list[tuple[bytes, bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.add(writer.get_extra_info("peername"))
        while not reader.at_eof():
            try:
                head, body = await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            seen.append((head, body))
            writer.write(_answer(b'{"echo": %d}' % len(body), b"Set-Cookie: sid=1; Path=/\r\n"))
            await writer.drain()
        writer.close()

    server, url = await _serve(handle)
    async with server:
        upstream = await upstream_at(url)
        for size in (0, 10, 200_000):
            response = await upstream.send(
                "POST", "/sales", query="a=1", headers={"x-user-id": "7"}, content=b"x" * size, stream=False
            )
            assert response.status_code == 200
            assert response.json() == {"echo": size}
        assert len(peers) == 1, "one connection, kept alive"
        head = seen[-1][0].lower()
        assert head.startswith(b"post /sales?a=1 http/1.1")
        assert b"x-user-id: 7" in head
        assert b"accept-encoding: identity" in head
        assert b"cookie" not in head, "a cookie an upstream set is never sent back"


async def test_a_streamed_body_and_a_large_answer_arrive_whole(upstream_at) -> None:
    answer = b"7" * 3_000_000

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head.lower()
        received = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            received += chunk[:-2]
        writer.write(_answer(answer if received == b"abc" * 1000 else b"wrong"))
        await writer.drain()
        writer.close()

    async def body() -> AsyncIterator[bytes]:
        for _ in range(1000):
            yield b"abc"

    server, url = await _serve(handle)
    async with server:
        upstream = await upstream_at(url)
        response = await upstream.send("POST", "/sales/import", content=body(), read_up_to=1000)
        try:
            assert not response.is_read, "a large answer is left to stream"
            assert b"".join([chunk async for chunk in response.aiter_bytes()]) == answer
        finally:
            await response.aclose()


@pytest.mark.parametrize(
    ("headers", "attempts", "outcome"),
    [({"idempotency-key": "k-1"}, 2, 201), ({}, 1, 502)],
    ids=["with-idempotency-key", "without"],
)
async def test_a_create_whose_connection_broke_is_sent_again_only_with_an_idempotency_key(
    upstream_at, headers: dict[str, str], attempts: int, outcome: int
) -> None:
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await _read_request(reader)
        received.append(body)
        if len(received) > 1:  # the first connection breaks before an answer, as a crash would
            writer.write(_answer(b'{"id": "1"}').replace(b"200 OK", b"201 Created"))
            await writer.drain()
        writer.close()

    server, url = await _serve(handle)
    async with server:
        upstream = await upstream_at(url)
        try:
            response = await upstream.send("POST", "/sales", headers=headers, content=b"{}", stream=False)
            status = response.status_code
        except UpstreamFailure as failure:
            status = failure.status
    assert status == outcome
    assert received == [b"{}"] * attempts


async def test_a_streamed_answer_that_fails_half_way_gives_its_connection_back() -> None:
    answered = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await _read_request(reader)
        answered += 1
        if answered == 1:  # a long answer that stops coming
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nstart")
            await writer.drain()
            await asyncio.sleep(2)
        else:
            writer.write(_answer(b'{"ok": true}'))
            await writer.drain()
        writer.close()

    server, url = await _serve(handle)
    async with server:
        upstream = Upstream("writer", url, timeouts=Timeouts(connect_s=0.5, read_s=0.3, pool_s=0.5), max_connections=1)
        await upstream.start()
        try:
            response = await upstream.send("GET", "/export", read_up_to=10)
            with pytest.raises(TransportError):
                async for _ in response.aiter_bytes():
                    pass
            # the holder never closes it (as when Starlette's streaming response fails): the one slot
            # must come back all the same
            again = await upstream.send("GET", "/livez", stream=False)
            assert again.json() == {"ok": True}
        finally:
            await upstream.aclose()


async def test_a_short_answer_is_read_before_returning(upstream_at) -> None:
    server, url = await _serve(_replying(_answer(b'{"id": "1"}')))
    async with server:
        upstream = await upstream_at(url)
        response = await upstream.send("POST", "/sales", content=b"{}", read_up_to=1000)
        assert response.is_read
        assert response.json() == {"id": "1"}


async def test_nobody_listening_is_a_503(upstream_at) -> None:
    server, url = await _serve(lambda reader, writer: asyncio.sleep(0))
    server.close()
    await server.wait_closed()
    upstream = await upstream_at(url)
    with pytest.raises(UpstreamFailure) as failure:
        await upstream.send("GET", "/livez", stream=False)
    assert failure.value.status == 503


async def test_no_answer_in_time_is_a_504(upstream_at) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(2)
        writer.close()

    assert await _failure_status(upstream_at, handle) == 504


@pytest.mark.parametrize(
    "reply",
    [b"", b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"],
    ids=["closed", "not-http", "cut-short"],
)
async def test_no_valid_answer_is_a_502(upstream_at, reply: bytes) -> None:
    assert await _failure_status(upstream_at, _replying(reply)) == 502


async def _failure_status(upstream_at, handle) -> int:
    """The status of the failure a POST through the transport raises against `handle`."""
    server, url = await _serve(handle)
    async with server:
        upstream = await upstream_at(url)
        with pytest.raises(UpstreamFailure) as failure:
            await upstream.send("POST", "/sales", content=b"{}", stream=False)
    return failure.value.status
