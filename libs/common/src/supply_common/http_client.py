"""A lean HTTP/1.1 client, whole in one module: the connection hands each answer its body through
the answer's private hooks (`_feed`, `_finish`, `_fail`), and the pool is the connection's only user.

Keep-alive connections over asyncio protocols, answers parsed by httptools.

httptools is llhttp, the parser uvicorn serves with. The gateway passes every API request to an
upstream through this client, and the load generator of `make bench` sends its creates with it: on
the hot path they need a request's bytes written and an answer's status, headers and body handed
back, and nothing else: no request or response objects beyond those (why, and what it saved: the
design notes, docs/README.md).

A `Connection` carries one exchange at a time: `exchange` writes a request (whole, or its head and
then a chunked body) and returns the answer's `Response` once its head has come; the body arrives
into the response, which the holder reads whole or chunk by chunk, with a timeout between bytes.
Reading pauses while more than `BUFFER_BYTES` wait unread. A `Pool` keeps connections to one host
and port: at most `max_connections` open, idle ones for `idle_s`; `Pools`, one per origin.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from urllib.parse import urlsplit

import httptools

BUFFER_BYTES = 256 * 1024
"""Unread body bytes at which a connection stops reading from its socket until the holder reads."""

_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te"})
"""Headers the client writes itself (or never sends): a caller's copy is left out."""

_NO_BODY_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


class HttpError(Exception):
    """No whole answer: the base of everything this client raises."""


class ConnectFailed(HttpError):
    """The connection could not be opened (refused, unreachable)."""


class ConnectionClosed(HttpError):
    """The connection ended before the whole answer came."""


class InvalidAnswer(HttpError):
    """What came back is not an HTTP/1.1 answer."""


class HttpTimeout(HttpError, TimeoutError):
    """Waited longer than allowed."""


class PoolTimeout(HttpTimeout):
    """Every connection stayed busy for longer than the wait allowed."""


class ConnectTimeout(HttpTimeout):
    """The connection was not open in time."""


class ReadTimeout(HttpTimeout):
    """The next bytes of the answer did not come in time."""


def request_head(
    method: str, target: str, authority: str, headers: Iterable[tuple[str, str]], body: bytes | object | None
) -> bytes:
    """A request's line and headers, ending with the blank line: `content-length` for a bytes `body`
    (and for an empty one where the method carries a body), `transfer-encoding: chunked` for any
    other body (an async iterable of bytes sent with `Connection.exchange`). A name or value that
    would break the head (a line break) is refused with ValueError."""
    if "\n" in target or "\r" in target or " " in target:
        raise ValueError(f"request target {target!r} cannot be sent")
    lines = [f"{method} {target} HTTP/1.1\r\nhost: {authority}\r\n"]
    for name, value in headers:
        if name.lower() in _FRAMING:
            continue
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
            raise ValueError(f"header {name!r} cannot be sent: it holds a line break or a colon")
        lines.append(f"{name}: {value}\r\n")
    if isinstance(body, bytes):
        lines.append(f"content-length: {len(body)}\r\n\r\n")
    elif body is not None:
        lines.append("transfer-encoding: chunked\r\n\r\n")
    elif method in _NO_BODY_METHODS:
        lines.append("\r\n")
    else:
        lines.append("content-length: 0\r\n\r\n")
    return "".join(lines).encode("latin-1")


class Response:
    """An answer: `status`, `headers` (names and values as they came) and the body as it arrives."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_connection",
        "_error",
        "_waiter",
        "complete",
        "content_length",
        "headers",
        "status",
    )

    def __init__(
        self, connection: Connection, status: int, headers: list[tuple[str, str]], content_length: int | None
    ) -> None:
        self.status = status
        self.headers = headers
        self.content_length = content_length
        self.complete = False
        self._connection = connection
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._error: HttpError | None = None
        self._waiter: asyncio.Future[None] | None = None

    async def read(self, timeout_s: float | None = None) -> bytes:
        """The whole body; `timeout_s` between bytes."""
        if self.complete:
            return self._take()
        return b"".join([chunk async for chunk in self.iter_chunks(timeout_s)])

    async def iter_chunks(self, timeout_s: float | None = None) -> AsyncIterator[bytes]:
        """The body in the pieces it came in (joined when several came before a read)."""
        while True:
            if self._chunks:
                yield self._take()
            elif self.complete:
                return
            elif self._error is not None:
                raise self._error
            else:
                await self._wait(timeout_s)

    def _take(self) -> bytes:
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        self._connection.resume()
        return data

    async def _wait(self, timeout_s: float | None) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                await self._waiter
        except TimeoutError:
            self._connection.close()
            raise ReadTimeout(f"no bytes of the answer for {timeout_s} s") from None
        finally:
            self._waiter = None

    # fed by the connection
    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > BUFFER_BYTES:
            self._connection.pause()
        self._wake()

    def _finish(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: HttpError) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one exchange at a time (create it with
    `loop.create_connection(Connection, host, port)` or take it from a `Pool`)."""

    def __init__(self) -> None:
        self.closed = False
        self.idle_since = 0.0
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[Response] | None = None
        self._response: Response | None = None
        self._headers: list[tuple[str, str]] = []
        self._length: int | None = None
        self._framed = False
        self._interim = False
        self._head_only = False
        self._done = True
        self._last = False
        self._reading_paused = False
        self._writable: asyncio.Future[None] | None = None

    @property
    def reusable(self) -> bool:
        """Open, its last answer read to the end, and both sides keeping it alive."""
        return self._done and not self._last and not self.closed

    async def exchange(
        self,
        request: bytes,
        body: AsyncIterable[bytes] | None = None,
        *,
        head_only: bool = False,
        timeout_s: float | None = None,
    ) -> Response:
        """Send `request` (its bytes as they go on the wire: the whole request, or with `body` its
        head, whose chunks follow chunked) and return the answer once its head has come, waiting at
        most `timeout_s` for it after the request is sent. `head_only` for HEAD: no body follows."""
        if self.closed or self._transport is None:
            raise ConnectionClosed("the connection is closed")
        if not self._done:
            raise RuntimeError("the previous answer on this connection has not been read")
        self._done = False
        self._head_only = head_only
        self._head = head = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        if body is not None:
            await self._send_chunks(body, head)  # stops early when the answer (a refusal) comes first
        if not head.done():
            try:
                async with asyncio.timeout(timeout_s):
                    await head
            except TimeoutError:
                self.close()
                raise ReadTimeout(f"no answer within {timeout_s} s") from None
        return head.result()

    async def _send_chunks(self, body: AsyncIterable[bytes], head: asyncio.Future[Response]) -> None:
        transport = self._transport
        assert transport is not None
        async for chunk in body:
            if head.done() or self.closed:
                self._last = True  # answered (or gone) before the body was all sent: not reusable
                return
            if chunk:
                transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
                if self._writable is not None:
                    await self._writable
        if not self.closed:
            transport.write(b"0\r\n\r\n")

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def pause(self) -> None:
        if not self._reading_paused and not self.closed and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def resume(self) -> None:
        if self._reading_paused and not self.closed and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._abort(InvalidAnswer(f"not a valid HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self._response
        if response is not None and not self._framed and not self._done:
            # neither a length nor chunks: the body ran to the end of the connection
            self._complete()
        self._abort(ConnectionClosed(f"the connection closed before the whole answer came ({exc or 'by the server'})"))

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = []
        self._length = None
        self._framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-length":
            self._framed = True
            self._length = int(value) if value.strip().isdigit() else None
        elif lowered == b"transfer-encoding":
            self._framed = True
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            self._interim = True  # 1xx: the real answer follows
            return
        response = Response(self, status, self._headers, self._length)
        self._response = response
        head = self._head
        if head is not None and not head.done():
            head.set_result(response)
        if self._head_only:
            # the parser cannot be told that no body follows a HEAD: end the exchange and the connection
            self._last = True
            self._complete()
            self.close()

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if not self._parser.should_keep_alive():
            self._last = True
        self._complete()

    def _complete(self) -> None:
        response, self._response = self._response, None
        self._head = None
        self._done = True
        if response is not None:
            response._finish()

    def _abort(self, error: HttpError) -> None:
        self.close()
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_exception(error)
        response, self._response = self._response, None
        if response is not None:
            response._fail(error)
        self.resume_writing()  # a body being sent sees the connection closed and stops


class Pool:
    """Keep-alive connections to one host and port: at most `max_connections` taken at once (callers
    beyond wait), idle ones kept for `idle_s`. Keep `idle_s` below the server's keep-alive (uvicorn's
    is 5 s), so that a connection taken from the pool is never one the server is about to close."""

    def __init__(self, host: str, port: int, *, max_connections: int = 100, idle_s: float = 4.0) -> None:
        self.host = host
        self.port = port
        self.idle_s = idle_s
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: collections.deque[Connection] = collections.deque()
        self._open: set[Connection] = set()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def acquire(self, *, connect_s: float | None = None, pool_s: float | None = None) -> Connection:
        """A connection for one exchange (give it back with `release`): an idle one, or a new one
        opened within `connect_s`, after waiting at most `pool_s` when all are taken."""
        slots = self._slots
        if slots.locked():
            try:
                async with asyncio.timeout(pool_s):
                    await slots.acquire()
            except TimeoutError:
                raise PoolTimeout(f"no connection to {self.host}:{self.port} came free within {pool_s} s") from None
        else:
            await slots.acquire()
        try:
            return self._reuse() or await self._connect(connect_s)
        except BaseException:
            slots.release()
            raise

    def release(self, connection: Connection) -> None:
        """Give back a connection from `acquire`: kept when its answer was read to the end and both
        sides keep it alive, closed otherwise."""
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
            self._open.discard(connection)
        self._slots.release()

    def _reuse(self) -> Connection | None:
        idle, oldest = self._idle, time.monotonic() - self.idle_s
        while idle and (idle[0].closed or idle[0].idle_since < oldest):
            self._drop(idle.popleft())
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
            self._drop(connection)
        return None

    def _drop(self, connection: Connection) -> None:
        connection.close()
        self._open.discard(connection)

    async def _connect(self, connect_s: float | None) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_s):
                _, connection = await loop.create_connection(Connection, self.host, self.port)
        except TimeoutError:
            raise ConnectTimeout(f"{self.host}:{self.port} did not accept within {connect_s} s") from None
        except OSError as exc:
            raise ConnectFailed(f"{self.host}:{self.port}: {exc.strerror or exc}") from exc
        self._open.add(connection)
        return connection

    async def aclose(self) -> None:
        for connection in self._open:
            connection.close()
        self._open.clear()
        self._idle.clear()


class Pools:
    """A `Pool` per origin (`host:port`, as in a URL), made when first asked for, all with the same
    limits."""

    def __init__(self, *, max_connections: int = 100, idle_s: float = 4.0) -> None:
        self.max_connections = max_connections
        self.idle_s = idle_s
        self._pools: dict[str, Pool] = {}

    def get(self, authority: str) -> Pool:
        pool = self._pools.get(authority)
        if pool is None:
            parts = urlsplit(f"//{authority}")
            pool = Pool(
                parts.hostname or "localhost",
                parts.port or 80,
                max_connections=self.max_connections,
                idle_s=self.idle_s,
            )
            self._pools[authority] = pool
        return pool

    async def aclose(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            await pool.aclose()
