"""Ed25519 signing keys kept as PEM files in one folder, and the JWTs they sign.

A key's file is `<kid>.pem`; the kid embeds its creation time, so the newest key is the signer.
An older key stays published (and accepted) until every token it could have signed has expired:
`retention_s` after the next key appeared. Serving processes notice a rotation by the folder's mtime.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from supply_common import tokens as common_tokens
from supply_common.contract.account_events import GENERATION_CLAIM, SESSION_CLAIM

ALGORITHM = "EdDSA"
KID_PREFIX = "ed25519-"
_KID_TIME = "%Y%m%dT%H%M%S"
REQUIRED_CLAIMS = ("sub", "role", "email", "iss", "aud", "iat", "exp", "jti")


class NoSigningKey(RuntimeError):
    pass


class InvalidToken(Exception):
    """The token is not one of ours, or no longer valid. The reason is for logs, not clients."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    created_at: float
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def _kid_created_at(kid: str) -> float | None:
    if not kid.startswith(KID_PREFIX):
        return None
    try:
        stamp = kid[len(KID_PREFIX) :].rsplit("-", 1)[0]
        return datetime.strptime(stamp, _KID_TIME).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


class KeyStore:
    """The key folder, re-read when its mtime changes."""

    def __init__(self, directory: Path, retention_s: int, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.retention_s = retention_s
        self.clock = clock
        self._lock = threading.Lock()
        self._seen_mtime: int | None = None
        self._keys: list[SigningKey] = []

    def ensure(self, *, create: bool) -> None:
        """Fail unless a signing key exists; with `create`, make the first one in an empty folder."""
        if not self.all_keys() and create:
            self.rotate()
        if not self.all_keys():
            raise NoSigningKey(f"no signing key in {self.directory}; run `auth rotate-keys`")

    def all_keys(self) -> list[SigningKey]:
        """All keys on disk, oldest first."""
        try:
            mtime = self.directory.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        if mtime != self._seen_mtime or self._recently_changed(mtime):
            with self._lock:
                self._keys = self._load()
                self._seen_mtime = mtime
        return self._keys

    def _recently_changed(self, mtime_ns: int) -> bool:
        """A write within the same mtime tick as our last read would go unseen: re-read for 2 s."""
        return time.time() - mtime_ns / 1e9 < 2

    def _load(self) -> list[SigningKey]:
        loaded = []
        for path in sorted(self.directory.glob(f"{KID_PREFIX}*.pem")):
            kid = path.stem
            created = _kid_created_at(kid)
            if created is None:
                continue
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(key, Ed25519PrivateKey):
                loaded.append(SigningKey(kid, created, key))
        return sorted(loaded, key=lambda k: (k.created_at, k.kid))

    def published(self) -> list[SigningKey]:
        """The signer and every older key whose tokens may still be unexpired."""
        keys = self.all_keys()
        now = self.clock()
        return [
            key
            for key, successor in zip(keys, [*keys[1:], None], strict=True)
            if successor is None or now - successor.created_at < self.retention_s
        ]

    def signer(self) -> SigningKey:
        keys = self.all_keys()
        if not keys:
            raise NoSigningKey(f"no signing key in {self.directory}")
        return keys[-1]

    def rotate(self) -> SigningKey:
        """Write a new key, which becomes the signer, and delete keys no longer published."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        now = self.clock()
        newest = self.all_keys()[-1].created_at if self.all_keys() else 0.0
        created = max(float(int(now)), newest + 1)
        stamp = datetime.fromtimestamp(created, UTC).strftime(_KID_TIME)
        kid = f"{KID_PREFIX}{stamp}-{secrets.token_hex(4)}"
        private_key = Ed25519PrivateKey.generate()
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = self.directory / f".{kid}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.rename(self.directory / f"{kid}.pem")
        self._seen_mtime = None
        self.prune()
        return SigningKey(kid, created, private_key)

    def prune(self) -> list[str]:
        """Delete the files of keys that are no longer published; returns their kids."""
        published = {key.kid for key in self.published()}
        removed = [key.kid for key in self.all_keys() if key.kid not in published]
        for kid in removed:
            (self.directory / f"{kid}.pem").unlink(missing_ok=True)
        if removed:
            self._seen_mtime = None
        return removed

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.jwk() for key in reversed(self.published())]}


class PublishedKeys(common_tokens.KeyStore):
    """The keys this auth publishes, as the common verifier (`supply_common.tokens.TokenVerifier`)
    asks for them: looked up in the key folder on every use, so a key is accepted exactly while it
    is published, with no fetch, no cache to expire and no lock (auth is its own key set's source)."""

    def __init__(self, keys: KeyStore) -> None:
        super().__init__(self._published)
        self.own = keys
        self._public: dict[str, Ed25519PublicKey] = {}

    async def _published(self) -> Mapping[str, Any]:
        return self.own.jwks()

    @property
    def has_keys(self) -> bool:
        return bool(self.own.published())

    async def key(self, kid: str) -> Ed25519PublicKey:
        signing = next((key for key in self.own.published() if key.kid == kid), None)
        if signing is None:
            raise common_tokens.InvalidToken("unknown signing key")
        if kid not in self._public:
            # One object per key: the verifier knows a remembered token's key by identity.
            self._public[kid] = signing.public_key
        return self._public[kid]


class TokenService:
    """Issues and verifies access tokens (EdDSA only)."""

    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, ttl_s: int, leeway_s: int = 5) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        self.leeway_s = leeway_s

    def issue(self, *, user_id: str, role: str, email: str, session_id: str, generation: int) -> str:
        """`sid` names the login (refresh-token family) and `gen` the account's token generation: a
        verifier that follows the account events refuses the token once either is revoked."""
        key = self.keys.signer()
        now = int(self.keys.clock())
        claims = {
            "sub": user_id,
            "role": role,
            "email": email,
            SESSION_CLAIM: session_id,
            GENERATION_CLAIM: generation,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def issue_service(self, *, subject: str, scopes: list[str], audience: str, ttl_s: int) -> str:
        """A service credential: no role, no email, its own audience, the scopes it may use."""
        key = self.keys.signer()
        now = int(self.keys.clock())
        claims = {
            "sub": subject,
            "scope": " ".join(sorted(set(scopes))),
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str) -> Mapping[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed: {exc}") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm not allowed")
        kid = header.get("kid")
        key = next((k for k in self.keys.published() if k.kid == kid), None)
        if key is None:
            raise InvalidToken("unknown key id")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if not all(isinstance(claims[name], str) for name in ("sub", "role", "email", "jti")):
            raise InvalidToken("claims of the wrong type")
        return claims
