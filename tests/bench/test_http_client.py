"""The load generator's HTTP client against a server written for the purpose (asyncio streams): it
keeps connections alive, opens another when the server closes one, reads chunked answers, and turns
a status other than 201 into an error."""

from __future__ import annotations

import asyncio
import json

from bench import http

WORKER = {"Authorization": "Bearer worker-token"}


class Server:
    """Answers every POST with 201 and `{"id": <n>, "version": 1}`; `close_every` > 0 closes the
    connection after that many answers (saying so); `chunked` sends the body in chunks; path `/fail`
    gets a 409."""

    def __init__(self, close_every: int = 0, chunked: bool = False) -> None:
        self.close_every = close_every
        self.chunked = chunked
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = [line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line]
                length = next(int(value) for name, value in fields if name.strip().lower() == b"content-length")
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                answered += 1
                closing = self.close_every > 0 and answered % self.close_every == 0
                status = b"409 Conflict" if head.startswith(b"POST /fail") else b"201 Created"
                payload = json.dumps({"id": str(len(self.requests)), "version": 1}).encode()
                headers = b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                if closing:
                    headers += b"Connection: close\r\n"
                if self.chunked:
                    half = len(payload) // 2
                    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:half], payload[half:]))
                    writer.write(headers + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
                else:
                    writer.write(headers + b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
                await writer.drain()
                if closing:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _run(server: Server, path: str, calls: int, concurrency: int) -> tuple[http.Creator, list[BaseException]]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    errors: list[BaseException] = []
    try:
        async with http.client() as client:
            creator = http.Creator(client, f"http://127.0.0.1:{port}{path}", [b'{"a": 1}', b'{"b": 22}'], WORKER)
            creator.keep = True
            queue = list(range(calls))

            async def worker() -> None:
                while queue:
                    try:
                        await creator(queue.pop())
                    except Exception as exc:  # collected for the assertions
                        errors.append(exc)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        listening.close()
        await listening.wait_closed()
    return creator, errors


def test_connections_are_kept_alive_and_every_answer_is_read() -> None:
    server = Server()
    creator, errors = asyncio.run(_run(server, "/sales", calls=200, concurrency=8))
    assert errors == []
    assert len(creator.created) == 200
    assert sorted(int(sale_id) for sale_id, _ in creator.created) == list(range(1, 201))
    assert server.connections <= 8
    first = server.requests[0]
    assert first.startswith(b"POST /sales HTTP/1.1\r\n")
    assert b"Authorization: Bearer worker-token\r\n" in first
    assert first.endswith(b'\r\n\r\n{"a": 1}') or first.endswith(b'\r\n\r\n{"b": 22}')


def test_a_connection_the_server_closes_is_replaced_and_chunked_answers_are_joined() -> None:
    server = Server(close_every=3, chunked=True)
    creator, errors = asyncio.run(_run(server, "/sales", calls=60, concurrency=2))
    assert errors == []
    assert len(creator.created) == 60
    assert server.connections >= 20


def test_an_answer_other_than_201_is_an_error_with_its_status() -> None:
    creator, errors = asyncio.run(_run(Server(), "/fail", calls=3, concurrency=1))
    assert creator.created == []
    assert [error.status for error in errors] == [409, 409, 409]  # type: ignore[attr-defined]
