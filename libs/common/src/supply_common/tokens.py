"""Verification of the tokens auth signs, in one place for every service that takes callers.

Two kinds, told apart by their audience:
- a user's access token (`aud` = `AUDIENCE`, a `role` claim): what the gateway verifies, and then
  forwards unchanged, so that every service behind it verifies the same token itself;
- a service credential (`aud` = `SERVICE_AUDIENCE`, a `scope` claim, no role): what operator routes
  (`/internal/...`) need, and what the gateway shows auth to be believed about the client's address
  (`auth:client-address`), issued by `auth issue-service-token`. A user's token is never one.

Both are EdDSA (Ed25519) JWTs checked against auth's published keys (JWKS), fetched and cached by
`KeyStore`. A revocation check (`RevocationCheck`) is asked about every token on every use, cached or not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from supply_common.identity import ROLES, Identity
from supply_common.settings import CallerSettings

log = logging.getLogger(__name__)

ALGORITHM: Final = "EdDSA"
ISSUER: Final = "supply-store-auth"
AUDIENCE: Final = "supply-store"
SERVICE_AUDIENCE: Final = "supply-store-service"

SCOPES: Final[Mapping[str, str]] = {
    "sales:digest": "read the sales-writer's digest (id, version, hash) for drift control",
    "sales:republish": "re-emit sales through the sales-writer's outbox (repair)",
    "outbox:read": "read the sales-writer's outbox state (backlog, relay)",
    "copy:repair": "repair one sale of the copy against MySQL (the projector's reconcile for one id)",
    "auth:client-address": "name the client address auth counts a sign-in under (the gateway, which saw the client)",
}
"""Every scope a service credential may carry, and what it allows."""


class InvalidToken(Exception):
    """The token is not acceptable: 401. The reason is for logs and the problem's detail."""


class TokenExpired(InvalidToken):
    """Signature good but past `exp`: a browser session may refresh."""


class TokenRevoked(InvalidToken):
    """Signature good, not expired, but refused by the revocation check."""


class KeysUnavailable(Exception):
    """No usable keys could be had: fail closed with 503."""


class RevocationCheck(Protocol):
    """Whether a token whose signature and expiry passed is nevertheless refused (an account disabled,
    a role changed, a logout). Asked on every use of a token, so it must answer from memory."""

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Raises `RevocationsUnknown` while it cannot tell yet."""
        ...


class RevocationsUnknown(Exception):
    """The revocations are not known yet (their replay has not ended): no token can be judged, so none
    is accepted (answered 503, not 401: the token may well be good)."""


class NoRevocation:
    """Refuses nothing: tokens live until they expire."""

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        return False


NO_REVOCATION: Final = NoRevocation()

JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]


def parse_jwks(document: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Ed25519 keys by `kid`; keys of any other type or use are ignored."""
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, Mapping):
            continue
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or not entry.get("kid"):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            key = jwt.PyJWK(dict(entry), algorithm=ALGORITHM).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if isinstance(key, Ed25519PublicKey):
            keys[str(entry["kid"])] = key
    return keys


def jwks_from_url(url: str, timeout_s: float = 5.0) -> JwksFetcher:
    """A fetcher of the key set at `url` (auth's `/.well-known/jwks.json`, or a `file://` copy of it),
    run on a worker thread: it is called once per `ttl_s` at most, never per request."""

    def fetch() -> Mapping[str, Any]:
        if not url.startswith(("http://", "https://", "file://")):
            raise ValueError(f"not a key set URL: {url!r}")
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - scheme checked above
            document = json.loads(response.read())
        if not isinstance(document, Mapping):
            raise ValueError("the key set is not a JSON object")
        return document

    async def fetch_async() -> Mapping[str, Any]:
        return await asyncio.to_thread(fetch)

    return fetch_async


@dataclass(eq=False)
class KeyStore:
    """Caches auth's keys. An unknown `kid` triggers a refetch, at most once per `min_refetch_s`;
    cached keys are refreshed after `ttl_s` and, if auth cannot be reached, used until `max_stale_s`."""

    fetch: JwksFetcher
    _: KW_ONLY
    ttl_s: float = 300.0
    min_refetch_s: float = 10.0
    max_stale_s: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    fetches: int = field(default=0, init=False)
    _keys: dict[str, Ed25519PublicKey] = field(default_factory=dict, init=False, repr=False)
    _fetched_at: float | None = field(default=None, init=False, repr=False)
    _attempted_at: float | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @property
    def has_keys(self) -> bool:
        return bool(self._keys) and not self._too_stale()

    def _too_stale(self) -> bool:
        return self._fetched_at is None or self.clock() - self._fetched_at > self.max_stale_s

    def _may_refetch(self) -> bool:
        return self._attempted_at is None or self.clock() - self._attempted_at >= self.min_refetch_s

    async def refresh(self) -> None:
        """Fetch the keys now (raises on failure)."""
        async with self._lock:
            await self._refresh_locked()

    async def _refresh_locked(self) -> None:
        self._attempted_at = self.clock()
        self.fetches += 1
        document = await self.fetch()
        keys = parse_jwks(document)
        if not keys:
            raise KeysUnavailable("the key set holds no Ed25519 signing key")
        self._keys = keys
        self._fetched_at = self.clock()

    async def key(self, kid: str) -> Ed25519PublicKey:
        expired = self._fetched_at is None or self.clock() - self._fetched_at >= self.ttl_s
        if kid in self._keys and not expired:
            return self._keys[kid]
        async with self._lock:
            expired = self._fetched_at is None or self.clock() - self._fetched_at >= self.ttl_s
            if (kid not in self._keys or expired) and self._may_refetch():
                try:
                    await self._refresh_locked()
                except Exception as exc:
                    log.warning("cannot fetch signing keys", extra={"error": repr(exc)[:300]})
                    if self._too_stale() or kid not in self._keys:
                        raise KeysUnavailable("the signing keys cannot be fetched") from exc
            if self._too_stale():
                raise KeysUnavailable("the signing keys are too old and cannot be refreshed")
            if kid not in self._keys:
                raise InvalidToken("unknown signing key")
            return self._keys[kid]


@dataclass(frozen=True)
class ServiceCaller:
    """Who called an operator route: the credential's subject and the scopes it carries."""

    subject: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class _Verified:
    claims: Mapping[str, Any]
    principal: Identity | ServiceCaller
    expires_at: float
    kid: str
    key: Ed25519PublicKey


@dataclass(eq=False)
class TokenVerifier:
    """Checks signature (EdDSA only), `iss`, `aud`, `exp`, then the revocation check, and turns the
    claims into an `Identity` (user tokens) or a `ServiceCaller` (service credentials).

    A token that passed is remembered (the `cache_size` most recent of each kind, by the exact token
    text), so the same token presented again costs a dictionary lookup instead of a signature check
    and two JSON parses. A remembered token is still refused once it expires (same leeway) or is
    revoked, and checked afresh whenever the key store no longer holds the very key that verified it
    (rotation, refetch)."""

    keys: KeyStore
    _: KW_ONLY
    issuer: str = ISSUER
    audience: str = AUDIENCE
    service_audience: str = SERVICE_AUDIENCE
    leeway_s: float = 5
    cache_size: int = 4096
    wall_clock: Callable[[], float] = time.time
    revocation: RevocationCheck = NO_REVOCATION
    _verified: dict[str, dict[str, _Verified]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._verified = {self.audience: {}, self.service_audience: {}}

    async def verify(self, token: str) -> Identity:
        """The user a forwarded access token names (`InvalidToken`, `KeysUnavailable` otherwise)."""
        principal = await self._principal(token, self.audience)
        assert isinstance(principal, Identity)
        return principal

    async def verify_service(self, token: str) -> ServiceCaller:
        """The service a credential names; a user's token is refused (wrong audience)."""
        principal = await self._principal(token, self.service_audience)
        assert isinstance(principal, ServiceCaller)
        return principal

    async def _principal(self, token: str, audience: str) -> Identity | ServiceCaller:
        cache = self._verified[audience]
        known = cache.get(token)
        if known is not None:
            if known.expires_at > self.wall_clock() - self.leeway_s and await self.keys.key(known.kid) is known.key:
                if self.revocation.is_revoked(known.claims):
                    raise TokenRevoked("token revoked")
                return known.principal
            del cache[token]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("token algorithm not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no key id")
        key = await self.keys.key(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=audience,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("token is not meant for this use (audience)") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"token rejected: {type(exc).__name__}") from exc
        if claims.get("aud") != audience:
            raise InvalidToken("token is not meant for this use (audience)")
        principal = self._user(claims) if audience == self.audience else self._service(claims)
        if self.revocation.is_revoked(claims):
            raise TokenRevoked("token revoked")
        self._remember(cache, token, _Verified(claims, principal, float(claims["exp"]), kid, key))
        return principal

    @staticmethod
    def _user(claims: Mapping[str, Any]) -> Identity:
        role = claims.get("role")
        if role not in ROLES:
            raise InvalidToken("token has no valid role")
        return Identity(user_id=str(claims["sub"]), role=role, email=str(claims.get("email") or ""))

    @staticmethod
    def _service(claims: Mapping[str, Any]) -> ServiceCaller:
        scope = claims.get("scope")
        if not isinstance(scope, str) or "role" in claims:
            raise InvalidToken("not a service credential")
        return ServiceCaller(subject=str(claims["sub"]), scopes=frozenset(scope.split()))

    def _remember(self, cache: dict[str, _Verified], token: str, verified: _Verified) -> None:
        if self.cache_size <= 0:
            return
        while len(cache) >= self.cache_size:
            del cache[next(iter(cache))]
        cache[token] = verified


def verifier_for(settings: CallerSettings, *, revocation: RevocationCheck = NO_REVOCATION) -> TokenVerifier:
    """A verifier of the tokens signed by the keys the settings name (fetched on first use)."""
    keys = KeyStore(
        jwks_from_url(settings.auth_jwks_url),
        ttl_s=settings.jwks_ttl_s,
        min_refetch_s=settings.jwks_min_refetch_s,
        max_stale_s=settings.jwks_max_stale_s,
    )
    return TokenVerifier(keys, revocation=revocation)


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    return sorted(set(scopes) - set(SCOPES))


class CredentialFile:
    """A service credential kept in a file (one token, as `auth issue-service-token --out` writes it),
    read again whenever the file changes, so that a credential issued anew is used without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._token = ""
        self._expires_at: float | None = None

    def token(self) -> str:
        """The credential; raises `OSError` when the file cannot be read and `ValueError` when it is
        empty or holds a credential past its `exp` (nobody would accept it: issue a new one)."""
        stat = os.stat(self.path)
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self._token = self.path.read_text().strip()
            self._expires_at = _expiry(self._token)
            self._seen = seen
        if not self._token:
            raise ValueError(f"{self.path} holds no credential")
        if self._expires_at is not None and self._expires_at <= time.time():
            raise ValueError(f"the credential in {self.path} has expired: issue a new one")
        return self._token

    def authorization(self, header: str = "authorization") -> dict[str, str]:
        """`header` (by default `Authorization`) carrying the credential as a bearer token."""
        return {header: f"Bearer {self.token()}"}


def _expiry(token: str) -> float | None:
    """The `exp` of a JWT, read without checking anything: whoever receives it checks it."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return float(exp) if isinstance(exp, int | float) else None
