"""The HTTP/1.1 client against servers on loopback written for each case (asyncio streams): what it
sends, what it hands back, how it keeps, drops and limits connections, and what each failure raises."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from supply_common.http_client import (
    BUFFER_BYTES,
    ConnectFailed,
    ConnectionClosed,
    InvalidAnswer,
    Pool,
    Pools,
    PoolTimeout,
    ReadTimeout,
    request_head,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[int, list[object]]]:
    """A server on a free loopback port; yields the port and the peers that connected."""
    peers: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername"))
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], peers


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    fields = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)
    )
    if fields.get(b"transfer-encoding") == b"chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readexactly(2)
        return head, body
    return head, await reader.readexactly(int(fields.get(b"content-length", b"0")))


def answer(body: bytes, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


def replying(reply: bytes, hold_s: float = 0.0) -> Handler:
    """Reads one request, sends `reply` as it is, keeps the connection open `hold_s`, then closes it
    (without saying so, as a server's keep-alive timeout does)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        await asyncio.sleep(hold_s)

    return handler


async def echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request with its body, on one connection for as long as the client keeps it."""
    while True:
        head, body = await read_request(reader)
        writer.write(answer(body, extra=b"x-seen: " + head.split(b"\r\n")[0] + b"\r\n"))
        await writer.drain()


async def call(pool: Pool, request: bytes, **options: float) -> tuple[int, bytes]:
    connection = await pool.acquire(connect_s=1, pool_s=options.get("pool_s", 1))
    try:
        response = await connection.exchange(request, timeout_s=options.get("read_s", 1))
        return response.status, await response.read(options.get("read_s", 1))
    finally:
        pool.release(connection)


def post(body: bytes, headers: list[tuple[str, str]] | None = None) -> bytes:
    return request_head("POST", "/sales?a=1", "upstream", headers or [], body) + body


async def test_answers_come_back_whole_over_one_kept_alive_connection() -> None:
    async with serving(echo_forever) as (port, peers):
        pool = Pool("127.0.0.1", port)
        for size in (0, 10, 3 * BUFFER_BYTES):
            assert await call(pool, post(b"x" * size)) == (200, b"x" * size)
        await pool.aclose()
    assert len(peers) == 1


async def test_the_head_carries_the_callers_headers_but_its_own_framing() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, body = await read_request(reader)
        seen.append(head)
        writer.write(answer(body, extra=b"Set-Cookie: a=1\r\nX-Two: 1\r\nX-Two: 2\r\n"))
        await writer.drain()

    async with serving(handler) as (port, _):
        pool = Pool("127.0.0.1", port)
        connection = await pool.acquire()
        headers = [("X-User-Id", "7"), ("Content-Length", "999"), ("Host", "evil"), ("Transfer-Encoding", "gzip")]
        response = await connection.exchange(post(b"abc", headers))
        assert await response.read() == b"abc"
        assert [value for name, value in response.headers if name.lower() == "x-two"] == ["1", "2"]
        pool.release(connection)
        await pool.aclose()
    head = seen[0].lower()
    assert head.startswith(b"post /sales?a=1 http/1.1\r\nhost: upstream\r\n")
    assert b"x-user-id: 7\r\n" in head
    assert b"content-length: 3\r\n" in head
    for dropped in (b"999", b"evil", b"gzip"):
        assert dropped not in head


@pytest.mark.parametrize(
    ("name", "value"), [("X-A", "1\r\nX-Injected: 1"), ("X-A\r\nX-B", "1"), ("X-A:B", "1"), ("X-A", "é\n")]
)
def test_a_header_that_would_break_the_head_is_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        request_head("GET", "/", "upstream", [(name, value)], None)


def test_framing_follows_the_body() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"

    assert request_head("GET", "/", "h", [], None).endswith(b"host: h\r\n\r\n")
    assert request_head("POST", "/", "h", [], None).endswith(b"content-length: 0\r\n\r\n")
    assert request_head("PUT", "/", "h", [], b"12").endswith(b"content-length: 2\r\n\r\n")
    assert request_head("POST", "/", "h", [], chunks()).endswith(b"transfer-encoding: chunked\r\n\r\n")


async def test_a_streamed_body_goes_chunked_and_an_early_refusal_is_the_answer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await read_request(reader)
        writer.write(answer(b"%d" % len(body)))
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the second request: refused after its head
        writer.write(answer(b"too large", b"413 Content Too Large", b"connection: close\r\n"))
        await writer.drain()
        await asyncio.sleep(1)  # still open: the client must stop sending by itself

    sent_after_refusal: list[int] = []

    async def body(parts: int, refused: asyncio.Event | None = None) -> AsyncIterator[bytes]:
        for number in range(parts):
            if refused is not None and number == 2:
                await asyncio.sleep(0.2)  # the refusal arrives meanwhile
            if refused is not None and number > 2:
                sent_after_refusal.append(number)
            yield b"abc"

    async with serving(handler) as (port, _):
        pool = Pool("127.0.0.1", port)
        connection = await pool.acquire()
        head = request_head("POST", "/import", "h", [], body(0))
        response = await connection.exchange(head, body(1000))
        assert (response.status, await response.read()) == (200, b"3000")
        response = await connection.exchange(head, body(1000, asyncio.Event()), timeout_s=1)
        assert (response.status, await response.read()) == (413, b"too large")
        assert not connection.reusable
        assert len(sent_after_refusal) <= 1, "sending stops once the answer came"
        pool.release(connection)
        await pool.aclose()


async def test_a_large_answer_streams_and_the_server_waits_while_the_reader_does() -> None:
    size = 64 * 1024 * 1024  # far beyond what the loopback's socket buffers hold
    sent = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        block = b"7" * (1024 * 1024)
        for _ in range(size // len(block)):
            writer.write(b"%x\r\n%s\r\n" % (len(block), block))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        sent.set()

    async with serving(handler) as (port, _):
        pool = Pool("127.0.0.1", port)
        connection = await pool.acquire()
        response = await connection.exchange(request_head("GET", "/export", "h", [], None))
        assert response.content_length is None
        await asyncio.sleep(0.5)
        assert not sent.is_set(), "the server is held back while nobody reads"
        received, largest = 0, 0
        async for chunk in response.iter_chunks(timeout_s=5):
            received += len(chunk)
            largest = max(largest, len(chunk))
        assert received == size
        assert sent.is_set()
        assert largest < 4 * BUFFER_BYTES, "no more than about the buffer is held at once"
        assert connection.reusable
        pool.release(connection)
        await pool.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async with serving(replying(answer(b"ok"))) as (port, peers):
        pool = Pool("127.0.0.1", port)
        for _ in range(3):
            assert await call(pool, post(b"")) == (200, b"ok")
            await asyncio.sleep(0.05)
        assert len(peers) == 3
        assert pool.open_connections <= 1
        await pool.aclose()


async def test_idle_connections_older_than_the_idle_time_are_dropped() -> None:
    async with serving(echo_forever) as (port, peers):
        pool = Pool("127.0.0.1", port, idle_s=0.1)
        await call(pool, post(b"1"))
        await call(pool, post(b"2"))
        assert len(peers) == 1
        await asyncio.sleep(0.2)
        await call(pool, post(b"3"))
        assert len(peers) == 2
        assert pool.open_connections == 1
        await pool.aclose()


async def test_callers_beyond_the_limit_wait_for_a_connection_or_give_up() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await release.wait()
            writer.write(answer(b"ok"))
            await writer.drain()

    async with serving(handler) as (port, peers):
        pool = Pool("127.0.0.1", port, max_connections=2)
        first = [asyncio.create_task(call(pool, post(b""), read_s=5)) for _ in range(2)]
        await asyncio.sleep(0.1)
        with pytest.raises(PoolTimeout):
            await call(pool, post(b""), pool_s=0.1)
        waiting = asyncio.create_task(call(pool, post(b""), pool_s=5, read_s=5))
        await asyncio.sleep(0.1)
        release.set()
        assert [await task for task in (*first, waiting)] == [(200, b"ok")] * 3
        assert len(peers) == 2
        await pool.aclose()


async def test_no_answer_in_time_is_a_read_timeout_and_the_connection_is_dropped() -> None:
    async with serving(replying(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf", hold_s=5)) as (port, _):
        pool = Pool("127.0.0.1", port)
        connection = await pool.acquire()
        response = await connection.exchange(post(b""), timeout_s=1)
        with pytest.raises(ReadTimeout):
            await response.read(timeout_s=0.2)
        assert connection.closed
        assert not connection.reusable
        pool.release(connection)
        assert pool.open_connections == 0
        with pytest.raises(ReadTimeout):
            await call(pool, post(b""), read_s=0.2)
        await pool.aclose()


async def test_nobody_listening_is_a_failed_connect() -> None:
    async with serving(echo_forever) as (port, _):
        pass
    with pytest.raises(ConnectFailed):
        await Pool("127.0.0.1", port).acquire(connect_s=1)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", ConnectionClosed),
        (b"garbage\r\n\r\n", InvalidAnswer),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort", ConnectionClosed),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nabc", ConnectionClosed),
    ],
    ids=["closed", "not-http", "cut-short", "chunks-cut-short"],
)
async def test_a_broken_answer_raises(reply: bytes, error: type[Exception]) -> None:
    async with serving(replying(reply)) as (port, _):
        pool = Pool("127.0.0.1", port)
        with pytest.raises(error):
            await call(pool, post(b""))
        assert pool.open_connections == 0
        await pool.aclose()


@pytest.mark.parametrize(
    ("reply", "body"),
    [
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nto the end", b"to the end"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    ],
    ids=["interim-answer-first", "body-until-close", "no-content"],
)
async def test_answers_framed_every_way_arrive(reply: bytes, body: bytes) -> None:
    async with serving(replying(reply)) as (port, _):
        pool = Pool("127.0.0.1", port)
        status, received = await call(pool, post(b""))
        assert received == body
        assert status in (200, 201, 204)
        await pool.aclose()


async def test_a_head_answer_ends_at_its_headers() -> None:
    async with serving(replying(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", hold_s=5)) as (port, _):
        pool = Pool("127.0.0.1", port)
        connection = await pool.acquire()
        response = await connection.exchange(request_head("HEAD", "/", "h", [], None), head_only=True, timeout_s=1)
        assert (response.status, response.content_length) == (200, 1000)
        assert await response.read(timeout_s=1) == b""
        pool.release(connection)
        assert pool.open_connections == 0, "not reused: the parser still expects the body"
        await pool.aclose()


async def test_pools_keep_one_pool_per_origin() -> None:
    async with serving(echo_forever) as (port, peers):
        pools = Pools(max_connections=3, idle_s=1.0)
        pool = pools.get(f"127.0.0.1:{port}")
        assert pools.get(f"127.0.0.1:{port}") is pool
        assert pools.get("localhost:1") is not pool
        assert (pool.host, pool.port, pool.idle_s) == ("127.0.0.1", port, 1.0)
        assert await call(pool, post(b"a")) == (200, b"a")
        await pools.aclose()
        assert pool.open_connections == 0
        assert len(peers) == 1
