"""Access-token verification against auth's published keys (JWKS)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from supply_common.identity import ROLES, Identity
from supply_common.revocations import NothingRevoked, RevocationCheck

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
ISSUER = "supply-store-auth"
AUDIENCE = "supply-store"


class InvalidToken(Exception):
    """The token is not acceptable: 401."""


class KeysUnavailable(Exception):
    """No usable keys could be had: fail closed with 503."""


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


class KeyStore:
    """Caches auth's keys. An unknown `kid` triggers a refetch, at most once per `min_refetch_s`;
    cached keys are refreshed after `ttl_s` and, if auth cannot be reached, used until `max_stale_s`."""

    def __init__(
        self,
        fetch: JwksFetcher,
        *,
        ttl_s: float = 300.0,
        min_refetch_s: float = 10.0,
        max_stale_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.ttl_s = ttl_s
        self.min_refetch_s = min_refetch_s
        self.max_stale_s = max_stale_s
        self.clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

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
        document = await self._fetch()
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
class _Verified:
    identity: Identity
    expires_at: float
    kid: str
    key: Ed25519PublicKey
    claims: Mapping[str, Any]


class TokenVerifier:
    """Checks signature (EdDSA only), `iss`, `aud`, `exp`, and turns the claims into an identity.

    A token that passed is remembered (the `cache_size` most recent, by the exact token text), so the
    same token presented again costs a dictionary lookup instead of a signature check and two JSON
    parses. A remembered token is still refused once it expires (same leeway), and checked afresh
    whenever the key store no longer holds the very key that verified it (rotation, refetch).
    Every presentation, remembered or not, is asked of `revocations`: a token revoked after it was
    first seen is refused from then on."""

    def __init__(
        self,
        keys: KeyStore,
        *,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        leeway_s: float = 5,
        cache_size: int = 4096,
        wall_clock: Callable[[], float] = time.time,
        revocations: RevocationCheck | None = None,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.cache_size = cache_size
        self.wall_clock = wall_clock
        self.revocations = NothingRevoked() if revocations is None else revocations
        self._verified: dict[str, _Verified] = {}

    async def verify(self, token: str) -> Identity:
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at > self.wall_clock() - self.leeway_s and await self.keys.key(known.kid) is known.key:
                if self.revocations.is_revoked(known.claims):
                    raise InvalidToken("token revoked")
                return known.identity
            del self._verified[token]
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
                audience=self.audience,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"token rejected: {type(exc).__name__}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise InvalidToken("token has no valid role")
        identity = Identity(user_id=str(claims["sub"]), role=role, email=str(claims.get("email") or ""))
        if self.revocations.is_revoked(claims):
            raise InvalidToken("token revoked")
        self._remember(token, _Verified(identity, float(claims["exp"]), kid, key, claims))
        return identity

    def _remember(self, token: str, verified: _Verified) -> None:
        if self.cache_size <= 0:
            return
        while len(self._verified) >= self.cache_size:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = verified


class TokenExpired(InvalidToken):
    """Signature good but past `exp`: a browser session may refresh."""
