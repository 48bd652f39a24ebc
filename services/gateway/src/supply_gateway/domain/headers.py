"""Which headers cross the gateway, in each direction."""

from __future__ import annotations

from collections.abc import Iterable

REQUEST_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "content-type",
        "content-length",
        "if-match",
        "if-none-match",
        "idempotency-key",
    }
)
RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "etag",
        "location",
        "content-location",
        "retry-after",
        "cache-control",
        "www-authenticate",
        "content-disposition",
    }
)


def upstream_request_headers(
    client_headers: Iterable[tuple[str, str]],
    request_id: str,
    authorization: str | None = None,
    client_address: str | None = None,
) -> dict[str, str]:
    """The headers an upstream gets: a short allow-list of the client's (no identity header is on it:
    an upstream takes the caller only from the token in `authorization`, which it verifies itself),
    then the request id, the verified token and the client's address (auth throttles by it)."""
    headers = {name.lower(): value for name, value in client_headers if name.lower() in REQUEST_HEADERS}
    headers["x-request-id"] = request_id
    if authorization:
        headers["authorization"] = authorization
    if client_address:
        headers["x-forwarded-for"] = client_address
    return headers


def client_response_headers(upstream_headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name.lower(), value) for name, value in upstream_headers if name.lower() in RESPONSE_HEADERS]
