"""The client's address behind reverse proxies, from `X-Forwarded-For`.

Every proxy appends the address it received the request from, so the left part of the header is
whatever the client sent and only the entries appended by trusted hops mean anything. The client
is the first address, walking from the right, that is not a trusted proxy.

The gateway believes the proxies in front of it by their addresses (`TRUSTED_PROXIES`). Auth believes
no address: only a caller that proves it is the gateway with a service credential
(`supply_common.callers.vouching_service`) is `VOUCHED`, and then only the entry it appended counts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final


class TrustedProxies:
    """Proxies (addresses, networks in CIDR, or plain names) whose `X-Forwarded-For` is believed.
    With `any_peer` the peer in front is believed whatever it is (a deployment that only ever
    reaches the service through its proxy), and only the entry that peer appended is taken."""

    def __init__(self, entries: Iterable[str] = (), *, any_peer: bool = False) -> None:
        self.any_peer = any_peer
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            self.names.add(entry)
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue

    def __contains__(self, address: str) -> bool:
        if address in self.names:
            return True
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)

    def trusts_peer(self, peer: str) -> bool:
        return self.any_peer or peer in self


VOUCHED: Final = TrustedProxies(any_peer=True)
"""For a peer whose word is taken on other grounds than its address (a credential): the entry it appended."""


def client_address(peer: str, forwarded: Iterable[str], proxies: TrustedProxies) -> str:
    """The client's address: the peer itself unless it is a trusted proxy; behind one, the
    `X-Forwarded-For` entries (all headers, in order) walked from the right up to the first that is
    not a trusted proxy. An entry that is not an IP address stops the walk at the hop that wrote it."""
    if not proxies.trusts_peer(peer):
        return peer
    entries = [entry.strip() for value in forwarded for entry in value.split(",")]
    address = peer
    for entry in reversed(entries):
        try:
            address = str(ipaddress.ip_address(entry))
        except ValueError:
            return address
        if address not in proxies:
            return address
    return address
