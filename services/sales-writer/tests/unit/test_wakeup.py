"""Commit notices: the address setting, and a sender that never fails a commit."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from supply_sales_writer.adapters.wakeup import NOTICE, WakeSender, parse_address
from supply_sales_writer.config import SalesWriterSettings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8012", ("127.0.0.1", 8012)),
        ("sales-writer-relay:8012", ("sales-writer-relay", 8012)),
        ("[::1]:8012", ("::1", 8012)),
    ],
)
def test_addresses_are_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["8012", "relay", "relay:", ":8012", "relay:0", "relay:65536", "relay:80a"])
def test_anything_else_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match="expected host:port"):
        parse_address(text)
    with pytest.raises(ValidationError, match="relay_wake_address"):
        SalesWriterSettings(relay_wake_address=text)


def test_a_notice_reaches_a_listening_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(5)
        sender = WakeSender(f"127.0.0.1:{listener.getsockname()[1]}")
        try:
            sender()
            sender()
            assert [listener.recv(16), listener.recv(16)] == [NOTICE, NOTICE]
        finally:
            sender.close()


def test_sending_to_nobody_or_an_unknown_host_raises_nothing() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    for sender in (WakeSender(f"127.0.0.1:{closed_port}"), WakeSender("relay.invalid:8012")):
        for _ in range(3):  # a refusal reported by the first send surfaces on the next
            sender()
        sender.close()
