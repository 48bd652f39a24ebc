from __future__ import annotations

import pytest

from supply_common.forwarded import VOUCHED, TrustedProxies, client_address

PROXIES = TrustedProxies(("127.0.0.1", "::1", "10.0.0.0/8", "edge-proxy"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        ("127.0.0.1", ["6.6.6.6, 203.0.113.5"], "203.0.113.5"),
        ("127.0.0.1", ["6.6.6.6, 203.0.113.5, 10.1.2.3"], "203.0.113.5"),
        ("127.0.0.1", ["6.6.6.6", "203.0.113.5, 10.1.2.3"], "203.0.113.5"),
        ("127.0.0.1", ["10.0.0.9, 10.1.2.3"], "10.0.0.9"),
        ("127.0.0.1", ["6.6.6.6, not-an-ip"], "127.0.0.1"),
        ("127.0.0.1", ["6.6.6.6, not-an-ip, 10.1.2.3"], "10.1.2.3"),
        ("198.51.100.1", ["203.0.113.5"], "198.51.100.1"),
        ("edge-proxy", ["203.0.113.5"], "203.0.113.5"),
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(peer, forwarded, expected) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_a_client_cannot_choose_its_address_by_sending_the_header_itself() -> None:
    for spoofed in ("1.2.3.4", "1.2.3.4, 5.6.7.8", "10.0.0.1"):
        assert client_address("127.0.0.1", [f"{spoofed}, 203.0.113.5"], PROXIES) == "203.0.113.5"


def test_behind_any_peer_only_the_entry_it_appended_counts() -> None:
    anyone = TrustedProxies(any_peer=True)
    assert client_address("192.0.2.7", ["6.6.6.6, 203.0.113.5"], anyone) == "203.0.113.5"
    assert client_address("192.0.2.7", [], anyone) == "192.0.2.7"


def test_a_vouched_peer_names_the_client_in_the_entry_it_appended() -> None:
    assert client_address("127.0.0.1", ["6.6.6.6, 203.0.113.5"], VOUCHED) == "203.0.113.5"
    assert client_address("127.0.0.1", ["not-an-ip"], VOUCHED) == "127.0.0.1"
    assert client_address("127.0.0.1", [], VOUCHED) == "127.0.0.1"
