"""Commit notices for a relay in its own process: one UDP datagram after each commit that wrote
outbox rows, sent by whichever process committed (server workers, imports).

A notice only says "look now". Losing one (the relay restarting, a full socket buffer) costs latency,
never an event: the relay polls the outbox on its own as well. Notices carry nothing, so a stray
datagram can do no more than make the relay look early.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable

from supply_sales_writer.config import parse_address

log = logging.getLogger(__name__)

NOTICE = b"!"


class WakeSender:
    """Callable from any thread; never blocks and never raises. The host name is resolved on the
    first notice and again after a failure (the relay's host may come up later than the writer)."""

    def __init__(self, address: str) -> None:
        self.host, self.port = parse_address(address)
        self._target: tuple[socket.socket, tuple[object, ...]] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        target = self._target or self._resolve()
        if target is None:
            return
        sock, address = target
        try:
            sock.sendto(NOTICE, address)
        except BlockingIOError:
            pass  # the relay is behind on notices: it is already busy with the outbox
        except OSError:
            self._reset(target)

    def _resolve(self) -> tuple[socket.socket, tuple[object, ...]] | None:
        with self._lock:
            if self._target is not None:
                return self._target
            try:
                family, kind, proto, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
                sock = socket.socket(family, kind, proto)
            except OSError:
                return None
            sock.setblocking(False)
            self._target = (sock, address)
            return self._target

    def _reset(self, failed: tuple[socket.socket, tuple[object, ...]]) -> None:
        with self._lock:
            if self._target is failed:
                self._target = None
                failed[0].close()

    def close(self) -> None:
        with self._lock:
            if self._target is not None:
                self._target[0].close()
                self._target = None


class _Notices(asyncio.DatagramProtocol):
    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.wake()

    def error_received(self, exc: Exception) -> None:
        log.debug("wake-up socket error", extra={"error": repr(exc)})


async def listen(address: str, wake: Callable[[], None]) -> asyncio.DatagramTransport:
    """Call `wake` on every notice that reaches `address` (bound here) until the transport is closed."""
    host, port = parse_address(address)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Notices(wake), local_addr=(host, port)
    )
    return transport
